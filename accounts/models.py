"""API keys (a script's credential) and the append-only audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from qm_platform.errors import CodedError


class ApiKey(models.Model):
    """A user's key for scripts, sent as ``Authorization: Api-Key <key>``.

    Only the sha256 of the key is stored: the key itself is shown once, when it is created.
    ``prefix`` (``qm_`` and 8 hex characters, the start of the key) names it in lists and logs.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What the key is for, e.g. 'nightly sweep'.")
    prefix = models.CharField(max_length=16, unique=True, help_text="The visible start of the key.")
    key_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the whole key, hex.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the key does not expire.")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired


class AuditOutcome(models.TextChoices):
    OK = "ok"
    DENIED = "denied"  # refused: wrong password, revoked key, no permission
    FAILED = "failed"  # attempted and broke


class AuditLogImmutable(CodedError):
    """An audit entry was asked to change or disappear."""

    def __init__(self, what: str):
        super().__init__("INVALID_STATE", f"the audit log is append-only: an entry cannot be {what}")


class AuditQuerySet(models.QuerySet):
    """``update()``, ``bulk_update()`` and ``delete()`` refuse."""

    def update(self, **kwargs):
        raise AuditLogImmutable("updated")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditLogImmutable("updated")  # before its atomic block, which would poison the transaction

    def delete(self):
        raise AuditLogImmutable("deleted")


class AuditEntry(models.Model):
    """Who did what, when, from where, and how it went. Written by ``accounts.services.audit_record``.

    Append-only: saving an existing entry, deleting one and the queryset's update/delete raise.
    The one change the database makes is unlinking ``user`` when an account is deleted (the
    entry keeps ``username``, so the log still reads).
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
        help_text="Who acted (empty: anonymous, or an account since deleted).",
    )
    username = models.CharField(max_length=150, blank=True, help_text="The user's name at the time.")
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. login, api_key.create, backtest.submit")
    target = models.CharField(max_length=300, blank=True, help_text="What it acted on, e.g. run:<uuid>.")
    outcome = models.CharField(max_length=8, choices=AuditOutcome.choices, default=AuditOutcome.OK)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.outcome}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLogImmutable("updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogImmutable("deleted")
