"""The audit log: who, what, when, from where and the outcome of logins, credential changes,
submissions, cancels, deletions and admin actions; append-only."""

from __future__ import annotations

import pytest

from accounts.models import AuditEntry, AuditLogImmutable
from accounts.services import audit_record
from backtests.tests.factories import v4_body

pytestmark = pytest.mark.django_db

UA = "qm-test-agent/1.0"


def entries(action: str, **filters):
    return list(AuditEntry.objects.filter(action=action, **filters))


def the_entry(action: str, **filters) -> AuditEntry:
    found = entries(action, **filters)
    assert len(found) == 1, f"{action}: {found}"
    return found[0]


def test_an_entry_says_who_what_when_where_and_how_it_went(alice, rf):
    request = rf.get("/", HTTP_USER_AGENT=UA, REMOTE_ADDR="203.0.113.7")
    entry = audit_record(user=alice, action="thing.do", target="thing:1", request=request, details={"n": 1})
    entry.refresh_from_db()
    assert (entry.user, entry.username, entry.action, entry.target, entry.outcome) == (
        alice,
        "alice",
        "thing.do",
        "thing:1",
        "ok",
    )
    assert entry.ip == "203.0.113.7" and entry.user_agent == UA and entry.details == {"n": 1}
    assert entry.created_at is not None


def test_an_unusable_address_is_left_empty_and_anonymous_is_nobody(rf):
    from django.contrib.auth.models import AnonymousUser

    entry = audit_record(user=AnonymousUser(), action="x", request=rf.get("/", REMOTE_ADDR="not-an-ip"))
    assert entry.user is None and entry.username == "" and entry.ip is None


def test_entries_cannot_be_changed_or_deleted(alice):
    entry = audit_record(user=alice, action="login")
    entry.action = "nothing happened"
    with pytest.raises(AuditLogImmutable):
        entry.save()
    with pytest.raises(AuditLogImmutable):
        entry.delete()
    with pytest.raises(AuditLogImmutable):
        AuditEntry.objects.filter(id=entry.id).update(action="nothing happened")
    with pytest.raises(AuditLogImmutable):
        AuditEntry.objects.all().delete()
    with pytest.raises(AuditLogImmutable):
        AuditEntry.objects.bulk_update([entry], ["action"])
    assert AuditEntry.objects.get(id=entry.id).action == "login"


def test_session_logins_and_failures_are_recorded(alice, client):
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "wrong"}, HTTP_USER_AGENT=UA, REMOTE_ADDR="198.51.100.2"
    )
    assert response.status_code == 200
    failed = the_entry("login", outcome="denied")
    assert failed.user == alice and failed.ip == "198.51.100.2" and failed.user_agent == UA
    assert "wrong" not in str(failed.details)  # never the password
    client.post("/accounts/login/", {"username": "ghost", "password": "x"})
    assert the_entry("login", outcome="denied", username="").details == {"username": "ghost"}
    assert client.post("/accounts/login/", {"username": "alice", "password": "alice-password"}).status_code == 302
    ok = the_entry("login", outcome="ok")
    assert ok.user == alice and ok.details == {"method": "session"}


def test_jwt_logins_and_failures_are_recorded(alice, anon_api):
    anon_api.post("/api/v1/auth/token", {"username": "alice", "password": "bad"}, format="json", HTTP_USER_AGENT=UA)
    denied = the_entry("login", outcome="denied")
    assert denied.user == alice and denied.user_agent == UA and denied.ip == "127.0.0.1"
    anon_api.post("/api/v1/auth/token", {"username": "alice", "password": "alice-password"}, format="json")
    assert the_entry("login", outcome="ok").details == {"method": "jwt"}


def test_credential_changes_are_recorded(alice, alice_api, anon_api):
    created = alice_api.post("/api/v1/me/api-keys", {"name": "ci"}, format="json").json()
    create = the_entry("api_key.create")
    assert create.user == alice and create.target == f"api_key:{created['prefix']}"
    assert created["key"] not in str(create.details)
    alice_api.delete(f"/api/v1/me/api-keys/{created['id']}")
    assert the_entry("api_key.revoke").details == {"owner": "alice", "by_admin": False}
    anon_api.credentials(HTTP_AUTHORIZATION=f"Api-Key {created['key']}")
    anon_api.get("/api/v1/backtests")
    assert the_entry("api_key.auth", outcome="denied").details == {"reason": "revoked"}
    pair = anon_api.post("/api/v1/auth/token", {"username": "alice", "password": "alice-password"}, format="json")
    anon_api.post("/api/v1/auth/logout", {"refresh": pair.json()["refresh"]}, format="json")
    assert the_entry("jwt.blacklist").user == alice


def test_api_submissions_and_cancels_are_recorded(alice, alice_api):
    run_id = alice_api.post("/api/v1/backtests", v4_body(), format="json", HTTP_USER_AGENT=UA).json()["id"]
    submit = the_entry("backtest.submit")
    assert submit.user == alice and submit.target == f"run:{run_id}" and submit.user_agent == UA
    assert alice_api.post(f"/api/v1/backtests/{run_id}/cancel").status_code == 200
    assert the_entry("backtest.cancel").target == f"run:{run_id}"


def test_page_submissions_are_recorded(alice, client):
    import json

    client.force_login(alice)
    response = client.post("/run-backtest-v4", json.dumps(v4_body()), content_type="application/json")
    assert response.status_code == 303
    run_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    assert the_entry("backtest.submit").target == f"run:{run_id}"


def test_dataset_deletions_are_recorded(alice, alice_api, make_dataset):
    dataset = make_dataset(alice)
    assert alice_api.delete(f"/api/v1/datasets/{dataset.id}").status_code == 204
    assert the_entry("dataset.delete").target == f"dataset:{dataset.id}"


def test_admin_actions_are_recorded_with_the_address(admin_client, admin_user, alice):
    url = f"/admin/auth/user/{alice.id}/change/"
    form = {
        "username": "alice",
        "first_name": "Alice",
        "last_name": "",
        "email": "alice@example.com",
        "is_active": "on",
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2024-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    response = admin_client.post(url, form, HTTP_USER_AGENT=UA)
    assert response.status_code == 302, response.content.decode()[:2000]
    change = the_entry("admin.change")
    assert change.user == admin_user and change.target == f"auth.user:{alice.id}"
    assert change.ip == "127.0.0.1" and change.user_agent == UA and "First name" in change.details["message"]


def test_admin_bulk_deletions_are_recorded_one_entry_per_object(admin_client, admin_user, alice):
    from accounts.models import ApiKey
    from accounts.services import api_key_create

    keys = [api_key_create(user=alice, name=f"k{i}")[0] for i in range(2)]
    response = admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "delete_selected", "_selected_action": [k.id for k in keys], "post": "yes"},
    )
    assert response.status_code == 302
    assert not ApiKey.objects.exists()
    deleted = entries("admin.delete", user=admin_user)
    assert sorted(e.target for e in deleted) == sorted(f"accounts.apikey:{k.id}" for k in keys)


def test_the_audit_admin_is_read_only(admin_client, alice):
    entry = audit_record(user=alice, action="login")
    assert admin_client.get("/admin/accounts/auditentry/").status_code == 200
    assert admin_client.get(f"/admin/accounts/auditentry/{entry.id}/change/").status_code == 200  # view only
    assert admin_client.get("/admin/accounts/auditentry/add/").status_code == 403
    assert admin_client.post(f"/admin/accounts/auditentry/{entry.id}/delete/", {"post": "yes"}).status_code == 403
    response = admin_client.post(f"/admin/accounts/auditentry/{entry.id}/change/", {"action": "changed"})
    assert response.status_code == 403
    assert AuditEntry.objects.get(id=entry.id).action == "login"
