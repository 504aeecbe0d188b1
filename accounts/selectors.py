"""Account reads: a user's API keys and audit entries."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiKey, AuditEntry


def api_key_list_for_user(*, user) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at")


def api_key_get_for_user(*, user, api_key_id: int) -> ApiKey | None:
    return ApiKey.objects.filter(user=user, id=api_key_id).first()


def audit_list_for_user(*, user) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(user=user).order_by("created_at", "id")
