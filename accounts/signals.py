"""Receivers that write the audit log for Django's own events (the work is in services)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.models import AuditOutcome
from accounts.services import audit_record


@receiver(user_logged_in, dispatch_uid="accounts.audit_login")
def audit_login(sender, request, user, **kwargs):
    audit_record(user=user, action="login", request=request, details={"method": "session"})


@receiver(user_logged_out, dispatch_uid="accounts.audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_record(user=user, action="logout", request=request, details={"method": "session"})


@receiver(user_login_failed, dispatch_uid="accounts.audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    """A wrong password (a session login or a JWT obtain): linked to the account it named, if any."""
    username = str(credentials.get(get_user_model().USERNAME_FIELD, credentials.get("username", "")))[:150]
    account = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    audit_record(
        user=account,
        action="login",
        target=f"user:{username}",
        outcome=AuditOutcome.DENIED,
        request=request,
        details={"username": username},
    )
