"""Admin: every API key and JWT (staff can revoke any), the read-only audit log, and user
deletion that also removes the user's files in storage."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from rest_framework_simplejwt.token_blacklist.admin import OutstandingTokenAdmin
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import services
from accounts.models import ApiKey, AuditEntry


def _staff_with(request, permission: str) -> bool:
    return request.user.is_active and request.user.is_staff and request.user.has_perm(permission)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "expires_at"]
    search_fields = ["prefix", "name", "user__username"]
    readonly_fields = ["user", "name", "prefix", "key_hash", "created_at", "last_used_at", "expires_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # a key is shown once, to its owner: users create their own

    def has_revoke_permission(self, request):
        return _staff_with(request, "accounts.change_apikey")

    @admin.action(description="Revoke the selected API keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        keys = list(queryset.select_related("user").filter(revoked_at__isnull=True))
        for api_key in keys:
            services.api_key_revoke(api_key=api_key, by=request.user, request=request)
        self.message_user(request, f"Revoked {len(keys)} API key(s).", messages.SUCCESS)


admin.site.unregister(OutstandingToken)


@admin.register(OutstandingToken)
class RevocableOutstandingTokenAdmin(OutstandingTokenAdmin):
    """simplejwt's read-only list of refresh tokens, with an action to blacklist them."""

    actions = ["revoke"]
    list_display = ["jti", "user", "created_at", "expires_at", "blacklisted"]

    @admin.display(boolean=True)
    def blacklisted(self, obj) -> bool:
        return hasattr(obj, "blacklistedtoken")

    def has_revoke_permission(self, request):
        return _staff_with(request, "token_blacklist.add_blacklistedtoken")

    @admin.action(description="Blacklist (revoke) the selected refresh tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        count = services.jwt_revoke(tokens=queryset.select_related("user"), by=request.user, request=request)
        self.message_user(request, f"Blacklisted {count} refresh token(s).", messages.SUCCESS)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only."""

    list_display = ["created_at", "username", "action", "target", "outcome", "ip"]
    list_filter = ["outcome", "action", "created_at"]
    search_fields = ["username", "action", "target", "ip"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "user", "username", "action", "target", "outcome", "ip", "user_agent", "details"]
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


User = get_user_model()
_BaseUserAdmin = UserAdmin
if admin.site.is_registered(User):
    _BaseUserAdmin = type(admin.site.get_model_admin(User))
    admin.site.unregister(User)


@admin.register(User)
class AccountUserAdmin(_BaseUserAdmin):
    """Deleting a user here deletes their runs, datasets, report PDFs and stored data too (the
    same purge as DELETE /api/v1/me), not only their rows."""

    def delete_model(self, request, obj):
        services.account_purge(user=obj, by=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            services.account_purge(user=user, by=request.user, request=request)
