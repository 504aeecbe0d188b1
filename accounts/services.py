"""Account writes: the audit log, API keys, JWT sessions, and the GDPR export and deletion."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import tempfile
import zipfile
from typing import IO, Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import update_last_login
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import privacy, selectors
from accounts.models import ApiKey, AuditEntry, AuditOutcome
from qm_platform.errors import CodedError

logger = logging.getLogger("qm.accounts")

API_KEY_SCHEME = "qm"
API_KEY_LAST_USED_EVERY = dt.timedelta(seconds=60)  # at most one last_used_at write a minute per key
MAX_ACTIVE_API_KEYS = 20


# ---- audit log --------------------------------------------------------------------------------


def _client_ip(request) -> str | None:
    """The peer address as the web server saw it (REMOTE_ADDR). X-Forwarded-For is not trusted:
    anyone can send it; a proxy in front should set REMOTE_ADDR (gunicorn --forwarded-allow-ips)."""
    raw = (getattr(request, "META", None) or {}).get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def audit_record(
    *,
    user,
    action: str,
    target: str = "",
    outcome: str = AuditOutcome.OK,
    request=None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the audit log: ``user`` (None or anonymous for nobody) did ``action``
    on ``target`` with ``outcome`` (ok, denied, failed); IP and user agent come from ``request``."""
    if outcome not in AuditOutcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    meta = (getattr(request, "META", None) or {}) if request is not None else {}
    return AuditEntry.objects.create(
        user=user,
        username=user.get_username() if user is not None else "",
        action=action[:64],
        target=str(target)[:300],
        outcome=outcome,
        ip=_client_ip(request) if request is not None else None,
        user_agent=str(meta.get("HTTP_USER_AGENT", ""))[:300],
        details=details or {},
    )


# ---- API keys -----------------------------------------------------------------------------------


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, user, name: str, expires_at: dt.datetime | None = None, request=None) -> tuple[ApiKey, str]:
    """A new key for ``user``: returns the row and the key itself, which is not stored and
    cannot be shown again. The key is ``qm_<8 hex>_<43 url-safe characters>`` (256 random bits)."""
    if expires_at is not None and expires_at <= timezone.now():
        raise CodedError("INVALID_REQUEST", "expires_at must be in the future", {"field": "expires_at"})
    active = selectors.api_key_list_for_user(user=user).filter(revoked_at__isnull=True).count()
    if active >= MAX_ACTIVE_API_KEYS:
        raise CodedError(
            "INVALID_STATE",
            f"you have {active} API keys; revoke one before creating another (at most {MAX_ACTIVE_API_KEYS})",
            {"limit": MAX_ACTIVE_API_KEYS},
        )
    for attempt in range(3):  # 32 bits of prefix: a clash is rare, and then a new draw settles it
        prefix = f"{API_KEY_SCHEME}_{secrets.token_hex(4)}"
        key = f"{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    user=user, name=name, prefix=prefix, key_hash=_hash_key(key), expires_at=expires_at
                )
            break
        except IntegrityError:
            if attempt == 2:
                raise
    audit_record(
        user=user,
        action="api_key.create",
        target=f"api_key:{prefix}",
        request=request,
        details={"name": name, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return api_key, key


def api_key_revoke(*, api_key: ApiKey, by, request=None) -> ApiKey:
    """Revoke a key (its owner, or staff in admin). Revoking a revoked key changes nothing."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            user=by,
            action="api_key.revoke",
            target=f"api_key:{api_key.prefix}",
            request=request,
            details={"owner": api_key.user.get_username(), "by_admin": by.pk != api_key.user_id},
        )
    return api_key


def api_key_authenticate(*, key: str, request=None) -> ApiKey:
    """The active key ``key`` stands for, its ``last_used_at`` brought up to date (at most one
    write a minute). Raises CodedError AUTHENTICATION_FAILED saying why (unknown, revoked, expired)."""
    parts = key.split("_", 2)
    prefix = "_".join(parts[:2]) if len(parts) == 3 else ""
    api_key = ApiKey.objects.select_related("user").filter(prefix=prefix).first() if prefix else None
    reason = ""
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash_key(key)):
        reason, message = "invalid", "Invalid API key."
    elif api_key.revoked_at is not None:
        reason, message = "revoked", f"This API key ({api_key.prefix}) was revoked on {api_key.revoked_at:%Y-%m-%d}."
    elif api_key.is_expired:
        reason, message = "expired", f"This API key ({api_key.prefix}) expired on {api_key.expires_at:%Y-%m-%d}."
    elif not api_key.user.is_active:
        reason, message = "inactive", "The account of this API key is disabled."
    if reason:
        audit_record(
            user=api_key.user if api_key else None,
            action="api_key.auth",
            target=f"api_key:{api_key.prefix}" if api_key else "",
            outcome=AuditOutcome.DENIED,
            request=request,
            details={"reason": reason},
        )
        raise CodedError("AUTHENTICATION_FAILED", message, {"reason": reason})
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= API_KEY_LAST_USED_EVERY:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


# ---- JWT ----------------------------------------------------------------------------------------


def jwt_obtain(*, username: str, password: str, request=None) -> dict[str, str]:
    """A refresh and an access token for a correct username and password. A wrong one is
    audited by the ``user_login_failed`` signal that ``authenticate`` sends."""
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        raise CodedError("AUTHENTICATION_FAILED", "No active account with this username and password.")
    refresh = RefreshToken.for_user(user)
    update_last_login(None, user)
    audit_record(user=user, action="login", request=request, details={"method": "jwt"})
    return {"refresh": str(refresh), "access": str(refresh.access_token)}


def jwt_refresh(*, refresh: str) -> dict[str, str]:
    """A new access token (and, rotating, a new refresh token: the old one is blacklisted)."""
    try:
        return TokenRefreshSerializer().validate({"refresh": refresh})
    except TokenError as exc:
        raise CodedError("AUTHENTICATION_FAILED", f"The refresh token is refused: {exc}.") from None
    except get_user_model().DoesNotExist:
        raise CodedError("AUTHENTICATION_FAILED", "The account of this refresh token no longer exists.") from None
    except AuthenticationFailed:  # simplejwt's own check: the account is disabled
        raise CodedError("AUTHENTICATION_FAILED", "The account of this refresh token is disabled.") from None


def jwt_logout(*, refresh: str, request=None) -> None:
    """Blacklist a refresh token: it cannot be refreshed again (access tokens it gave live out
    their short lifetime, SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"])."""
    try:
        token = RefreshToken(refresh)
    except TokenError as exc:
        raise CodedError("AUTHENTICATION_FAILED", f"The refresh token is refused: {exc}.") from None
    token.blacklist()
    user = get_user_model().objects.filter(pk=token.get("user_id")).first()
    audit_record(user=user, action="jwt.blacklist", target=f"jwt:{token['jti']}", request=request)


def jwt_revoke(*, tokens, by, request=None) -> int:
    """Blacklist outstanding refresh tokens (staff in admin, or an account being deleted).
    Returns how many were newly blacklisted."""
    count = 0
    for outstanding in tokens:
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        if created:
            count += 1
            audit_record(
                user=by,
                action="jwt.blacklist",
                target=f"jwt:{outstanding.jti}",
                request=request,
                details={"owner": outstanding.user.get_username() if outstanding.user else ""},
            )
    return count


# ---- GDPR ---------------------------------------------------------------------------------------


def _account_data(user) -> dict[str, Any]:
    return {
        "account": {
            "id": user.pk,
            "username": user.get_username(),
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "date_joined": user.date_joined,
            "last_login": user.last_login,
        },
        "api_keys": list(
            selectors.api_key_list_for_user(user=user).values(
                "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"
            )
        ),
        "audit": list(
            selectors.audit_list_for_user(user=user).values(
                "created_at", "action", "target", "outcome", "ip", "user_agent", "details"
            )
        ),
    }


def account_export(*, user, request=None) -> IO[bytes]:
    """A ZIP of everything the user has here: ``data.json`` (account, API keys without their
    hashes, audit entries, and one section per registered exporter: runs, trades, datasets, ...)
    and the files the exporters name (PDF reports, uploaded data) under ``files/``.

    Built in a temporary file (spooled to disk past 16 MB) and returned open at its start;
    the caller closes it."""
    archive = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 (the caller closes it)
    data = _account_data(user)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, part in privacy.export_all(user=user):
            data[name] = part.data
            for exported in part.files:
                with exported.open() as source, zf.open(f"files/{name}/{exported.path}", "w") as target:
                    for chunk in iter(lambda src=source: src.read(1024 * 1024), b""):
                        target.write(chunk)
        zf.writestr("data.json", json.dumps(data, cls=DjangoJSONEncoder, indent=2))
    audit_record(user=user, action="account.export", target=f"user:{user.pk}", request=request)
    archive.seek(0)
    return archive


def account_delete(*, user, password: str, request=None) -> dict[str, Any]:
    """The user deletes their own account, typing the password again. See :func:`account_purge`."""
    if not password or not user.check_password(password):
        audit_record(user=user, action="account.delete", outcome=AuditOutcome.DENIED, request=request)
        raise CodedError("INVALID_PASSWORD", "The password is not correct.", {"field": "password"})
    return account_purge(user=user, by=user, request=request)


def account_purge(*, user, by, request=None) -> dict[str, Any]:
    """Delete an account and everything it owns (``by``: the user, or staff in admin). Every
    registered exporter deletes the user's rows and files (runs, trades, report PDFs, datasets
    and their stored data, ...), the refresh tokens are blacklisted, then the user row goes with
    whatever still cascades.

    Each exporter removes files before rows, and the rows go in one transaction: if storage
    fails, the error surfaces, no row is gone (some files may be) and a retry finishes the job.
    The audit log keeps an ``account.delete`` entry naming the username (unlinked from the
    deleted row). Returns what each exporter removed."""
    user_id, username, removed = user.pk, user.get_username(), {}
    with transaction.atomic():
        for name, counts in privacy.delete_all(user=user):
            removed[name] = counts
        jwt_revoke(tokens=OutstandingToken.objects.filter(user=user).select_related("user"), by=by, request=request)
        audit_record(
            user=by,
            action="account.delete",
            target=f"user:{user_id}",
            request=request,
            details={"username": username, "removed": removed},
        )
        user.delete()
    logger.info("account %s (%s) deleted: %s", user_id, username, removed)
    return removed
