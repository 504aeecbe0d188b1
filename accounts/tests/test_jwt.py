"""JWT for apps and the browser: obtain, use, refresh (rotating), logout (blacklist); the
other credentials keep working; every refusal in the error contract."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEntry

from .conftest import assert_error

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/token/refresh"
LOGOUT_URL = "/api/v1/auth/logout"
RUNS_URL = "/api/v1/backtests"


def obtain(client, username="alice", password="alice-password"):
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_obtain_gives_a_pair_whose_access_token_authenticates(alice, anon_api):
    response = obtain(anon_api)
    assert response.status_code == 200, response.content
    pair = response.json()
    assert set(pair) == {"access", "refresh"}
    me = bearer(pair["access"]).get("/api/v1/me")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    alice.refresh_from_db()
    assert alice.last_login is not None


def test_a_wrong_password_is_401_authentication_failed(alice, anon_api):
    assert_error(obtain(anon_api, password="nope"), 401, "AUTHENTICATION_FAILED")
    assert_error(obtain(anon_api, username="nobody"), 401, "AUTHENTICATION_FAILED")


def test_a_disabled_account_gets_no_token(alice, anon_api):
    alice.is_active = False
    alice.save()
    assert_error(obtain(anon_api), 401, "AUTHENTICATION_FAILED")


def test_refresh_rotates_and_the_used_refresh_token_is_refused(alice, anon_api):
    pair = obtain(anon_api).json()
    response = anon_api.post(REFRESH_URL, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 200, response.content
    fresh = response.json()
    assert fresh["refresh"] != pair["refresh"]
    assert bearer(fresh["access"]).get(RUNS_URL).status_code == 200
    again = anon_api.post(REFRESH_URL, {"refresh": pair["refresh"]}, format="json")
    assert "blacklisted" in assert_error(again, 401, "AUTHENTICATION_FAILED")["error"]


def test_logout_blacklists_the_refresh_token(alice, anon_api):
    pair = obtain(anon_api).json()
    assert anon_api.post(LOGOUT_URL, {"refresh": pair["refresh"]}, format="json").status_code == 204
    refused = anon_api.post(REFRESH_URL, {"refresh": pair["refresh"]}, format="json")
    assert "blacklisted" in assert_error(refused, 401, "AUTHENTICATION_FAILED")["error"]
    entry = AuditEntry.objects.get(action="jwt.blacklist")
    assert entry.user == alice and entry.outcome == "ok"


def test_garbage_tokens_are_refused_in_the_contract(alice, anon_api):
    assert_error(anon_api.post(REFRESH_URL, {"refresh": "not.a.token"}, format="json"), 401, "AUTHENTICATION_FAILED")
    assert_error(anon_api.post(LOGOUT_URL, {"refresh": "not.a.token"}, format="json"), 401, "AUTHENTICATION_FAILED")
    assert_error(anon_api.post(REFRESH_URL, {}, format="json"), 400, "INVALID_REQUEST")
    body = assert_error(bearer("not.a.token").get(RUNS_URL), 401, "AUTHENTICATION_FAILED")
    assert "invalid or has expired" in body["error"]


def test_an_expired_access_token_is_refused_with_a_clear_message(alice, anon_api, settings):
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=-timedelta(seconds=5))
    body = assert_error(bearer(str(token)).get(RUNS_URL), 401, "AUTHENTICATION_FAILED")
    assert "expired" in body["error"]


def test_an_access_token_of_a_deleted_account_is_refused(alice, anon_api):
    access = obtain(anon_api).json()["access"]
    alice.delete()
    assert_error(bearer(access).get(RUNS_URL), 401, "AUTHENTICATION_FAILED")


def test_anonymous_is_401_not_authenticated_with_a_challenge(anon_api):
    response = anon_api.get(RUNS_URL)
    assert_error(response, 401, "NOT_AUTHENTICATED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_drf_token_and_session_auth_keep_working(alice, alice_api, client):
    assert alice_api.get(RUNS_URL).status_code == 200
    client.force_login(alice)
    assert client.get(RUNS_URL).status_code == 200


def test_a_disabled_account_cannot_refresh(alice, anon_api):
    pair = obtain(anon_api).json()
    alice.is_active = False
    alice.save()
    refused = anon_api.post(REFRESH_URL, {"refresh": pair["refresh"]}, format="json")
    assert "disabled" in assert_error(refused, 401, "AUTHENTICATION_FAILED")["error"]


def test_login_attempts_from_one_address_are_throttled(anon_api, alice, settings):
    settings.QM_LOGIN_RATE = "3/min"
    wrong = {"username": "alice", "password": "not-her-password"}
    answers = [anon_api.post("/api/v1/auth/token", wrong, format="json") for _ in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[-1].json()["code"] == "RATE_LIMITED" and int(answers[-1]["Retry-After"]) > 0
    right = {"username": "alice", "password": "alice-password"}
    assert anon_api.post("/api/v1/auth/token", right, format="json").status_code == 429  # the address waits
