"""Request and response shapes of the auth and account endpoints."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiKey


class TokenObtainSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, write_only=True)
    password = serializers.CharField(max_length=1024, write_only=True, style={"input_type": "password"})


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Send as 'Authorization: Bearer <access>'; lives a few minutes.")
    refresh = serializers.CharField(help_text="Trade for a new pair at /api/v1/auth/token/refresh; once only.")


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class ApiKeySerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at", "active"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Empty: never expires.")


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The key itself. Shown this once: only its hash is stored.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(help_text="The account's email address; empty when none was given.")
    date_joined = serializers.DateTimeField()
    last_login = serializers.DateTimeField(allow_null=True)


class AccountDeleteSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=1024, write_only=True, help_text="Your password again, to confirm.", style={"input_type": "password"}
    )
