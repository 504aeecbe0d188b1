"""Admin sees every credential and revokes any of them: API keys, JWT refresh tokens, DRF tokens."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import ApiKey, AuditEntry
from accounts.services import api_key_create

from .conftest import assert_error

pytestmark = pytest.mark.django_db


def test_admin_lists_every_users_keys_by_prefix_never_the_key(admin_client, alice, bob):
    alices, alice_key = api_key_create(user=alice, name="alice ci")
    bobs, _ = api_key_create(user=bob, name="bob ci")
    page = admin_client.get("/admin/accounts/apikey/").content.decode()
    assert alices.prefix in page and bobs.prefix in page and alice_key not in page
    assert admin_client.get("/admin/accounts/apikey/add/").status_code == 403


def test_admin_revokes_a_users_key(admin_client, admin_user, alice):
    api_key, key = api_key_create(user=alice, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get("/api/v1/backtests").status_code == 200
    response = admin_client.post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [api_key.id]}, follow=True
    )
    assert "Revoked 1 API key" in response.content.decode()
    assert ApiKey.objects.get(id=api_key.id).revoked_at is not None
    assert "revoked" in assert_error(client.get("/api/v1/backtests"), 401, "AUTHENTICATION_FAILED")["error"]
    entry = AuditEntry.objects.get(action="api_key.revoke")
    assert entry.user == admin_user and entry.details == {"owner": "alice", "by_admin": True}


def test_admin_blacklists_a_users_refresh_token(admin_client, admin_user, alice, anon_api):
    pair = anon_api.post(
        "/api/v1/auth/token", {"username": "alice", "password": "alice-password"}, format="json"
    ).json()
    outstanding = OutstandingToken.objects.get(user=alice)
    assert "alice" in admin_client.get("/admin/token_blacklist/outstandingtoken/").content.decode()
    response = admin_client.post(
        "/admin/token_blacklist/outstandingtoken/", {"action": "revoke", "_selected_action": [outstanding.id]}
    )
    assert response.status_code == 302
    assert BlacklistedToken.objects.filter(token=outstanding).exists()
    refused = anon_api.post("/api/v1/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert_error(refused, 401, "AUTHENTICATION_FAILED")
    assert AuditEntry.objects.get(action="jwt.blacklist").user == admin_user


def test_staff_without_the_permission_cannot_revoke(client, alice):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    staff = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    client.force_login(staff)
    api_key, _ = api_key_create(user=alice, name="ci")
    client.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [api_key.id]})
    assert ApiKey.objects.get(id=api_key.id).revoked_at is None


def test_drf_tokens_stay_in_admin(admin_client, alice_api):
    assert admin_client.get("/admin/authtoken/tokenproxy/").status_code == 200
