"""Every admin action in the audit log, with who, from where and what.

Django's admin writes its own LogEntry, but a post_save receiver on LogEntry would miss
bulk deletions (``log_actions`` uses ``bulk_create`` for more than one object, which sends no
signal) and has no request to take the IP from. So the three logging hooks every ModelAdmin
calls, ``log_addition``, ``log_change`` and ``log_deletions`` (Django 5.1+), are wrapped once
at start-up, for the project's admins and Django's own (users, groups, tokens) alike.
"""

from __future__ import annotations

import functools
import json

from django.contrib.admin.options import ModelAdmin

_INSTALLED = "_qm_audited"


def _target(obj) -> str:
    return f"{obj._meta.label_lower}:{obj.pk}"


def _message(message) -> str:
    text = json.dumps(message) if isinstance(message, list) else str(message or "")
    return text[:1000]


def install() -> None:
    if getattr(ModelAdmin, _INSTALLED, False):
        return
    from accounts.services import audit_record

    log_addition, log_change, log_deletions = ModelAdmin.log_addition, ModelAdmin.log_change, ModelAdmin.log_deletions

    def audited(log, action: str):
        @functools.wraps(log)
        def wrapper(self, request, obj, message):
            entry = log(self, request, obj, message)
            audit_record(
                user=request.user,
                action=action,
                target=_target(obj),
                request=request,
                details={"object": str(obj)[:200], "message": _message(message)},
            )
            return entry

        return wrapper

    @functools.wraps(log_deletions)
    def audited_deletions(self, request, queryset):
        entries = log_deletions(self, request, queryset)
        for obj in queryset:
            audit_record(
                user=request.user,
                action="admin.delete",
                target=_target(obj),
                request=request,
                details={"object": str(obj)[:200]},
            )
        return entries

    ModelAdmin.log_addition = audited(log_addition, "admin.add")
    ModelAdmin.log_change = audited(log_change, "admin.change")
    ModelAdmin.log_deletions = audited_deletions
    setattr(ModelAdmin, _INSTALLED, True)
