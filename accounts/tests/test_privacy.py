"""GDPR basics: a user exports their data (JSON + their files) and deletes their account, which
takes their runs, trades, report PDFs, datasets and stored market data with it — and nothing of
anyone else's."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage

from accounts import privacy
from accounts.models import AuditEntry
from accounts.services import api_key_create
from backtests.library import services as library
from backtests.models import Artifact, BacktestRun, Strategy, Trade
from backtests.tests.factories import v4_body
from marketdata.models import Dataset

from .conftest import assert_error

pytestmark = pytest.mark.django_db

EXPORT_URL = "/api/v1/me/export"
ME_URL = "/api/v1/me"


def read_export(response) -> tuple[dict, dict[str, bytes]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    return json.loads(files.pop("data.json")), files


def stored(dataset: Dataset, manager) -> bool:
    return manager.storage.metadata(dataset.storage_key, dataset.timeframe) is not None


def test_the_apps_register_their_part():
    assert {"backtests", "marketdata"} <= set(privacy.registered())


def test_export_holds_the_users_data_and_files_and_nothing_of_anyone_elses(
    alice, bob, alice_api, make_run, make_dataset
):
    mine = [make_run(alice, trades=3), make_run(alice, trades=2)]
    theirs = make_run(bob, trades=4, market="EURUSD")
    my_dataset, their_dataset = make_dataset(alice, symbol="GBPUSD"), make_dataset(bob, symbol="USDJPY")
    api_key_create(user=alice, name="alice ci")
    api_key_create(user=bob, name="bob ci")
    saved = library.strategy_create(user=alice, name="alice saved", body=v4_body())
    library.strategy_update(strategy=saved, body=v4_body(exit__takeProfit=3.0))

    data, files = read_export(alice_api.get(EXPORT_URL, HTTP_ACCEPT="application/zip"))

    assert data["account"]["username"] == "alice" and data["account"]["id"] == alice.id
    assert [k["name"] for k in data["api_keys"]] == ["alice ci"] and "key_hash" not in data["api_keys"][0]
    runs = data["backtests"]["runs"]
    assert sorted(r["id"] for r in runs) == sorted(str(r.id) for r in mine)
    assert sorted(len(r["trades"]) for r in runs) == [2, 3]
    strategies = {s["name"]: s for s in data["backtests"]["strategies"]}
    assert set(strategies) == {"alice strategy", "alice saved"}
    assert [v["body"]["exit"]["takeProfit"] for v in strategies["alice saved"]["versions"]] == [2.0, 3.0]
    assert [d["id"] for d in data["marketdata"]["datasets"]] == [my_dataset.id]
    assert {a["action"] for a in data["audit"]} >= {"api_key.create"}
    for run in mine:
        pdf = files[f"files/backtests/reports/{run.id}.pdf"]
        assert pdf.startswith(b"%PDF") and b"alice" in pdf
    csv_name = f"files/marketdata/datasets/{my_dataset.id}-GBPUSD-1h.csv"
    assert files[csv_name].count(b"\n") == my_dataset.rows + 1

    everything = json.dumps(data) + "".join(files) + b"".join(files.values()).decode("latin-1")
    for foreign in (str(theirs.id), "bob", "USDJPY", str(their_dataset.storage_key), "EURUSD"):
        assert foreign not in everything, foreign
    assert AuditEntry.objects.filter(action="account.export", user=alice).count() == 1


def test_export_and_delete_need_a_login(anon_api):
    assert_error(anon_api.get(EXPORT_URL), 401, "NOT_AUTHENTICATED")
    assert_error(anon_api.delete(ME_URL, {"password": "x"}, format="json"), 401, "NOT_AUTHENTICATED")


def test_delete_needs_the_password_again(alice, alice_api, make_run):
    run = make_run(alice)
    assert_error(alice_api.delete(ME_URL, {}, format="json"), 400, "INVALID_REQUEST")
    body = assert_error(alice_api.delete(ME_URL, {"password": "wrong"}, format="json"), 400, "INVALID_PASSWORD")
    assert body["details"] == {"field": "password"}
    assert get_user_model().objects.filter(id=alice.id).exists() and BacktestRun.objects.filter(id=run.id).exists()
    assert AuditEntry.objects.get(action="account.delete").outcome == "denied"


def test_delete_removes_the_users_rows_and_files_and_leaves_bobs(
    alice, bob, alice_api, bob_api, anon_api, make_run, make_dataset, storage
):
    mine = [make_run(alice), make_run(alice)]
    theirs = make_run(bob)
    my_dataset, their_dataset = make_dataset(alice, symbol="GBPUSD"), make_dataset(bob, symbol="USDJPY")
    my_pdfs = [a.storage_key for a in Artifact.objects.filter(run__owner=alice)]
    their_pdf = Artifact.objects.get(run=theirs).storage_key
    pair = anon_api.post(
        "/api/v1/auth/token", {"username": "alice", "password": "alice-password"}, format="json"
    ).json()
    assert all(default_storage.exists(key) for key in my_pdfs) and stored(my_dataset, storage)

    response = alice_api.delete(ME_URL, {"password": "alice-password"}, format="json")

    assert response.status_code == 204, response.content
    assert not get_user_model().objects.filter(username="alice").exists()
    assert not BacktestRun.objects.filter(id__in=[r.id for r in mine]).exists()
    assert not Trade.objects.filter(run_id__in=[r.id for r in mine]).exists()
    assert not Strategy.objects.filter(name="alice strategy").exists()
    assert not Dataset.objects.filter(id=my_dataset.id).exists()
    assert not any(default_storage.exists(key) for key in my_pdfs)
    assert not stored(my_dataset, storage)
    # bob is untouched
    assert BacktestRun.objects.get(id=theirs.id).trades.count() == 3
    assert default_storage.exists(their_pdf) and stored(their_dataset, storage)
    assert Dataset.objects.filter(id=their_dataset.id).exists()
    assert bob_api.get(f"/api/v1/backtests/{theirs.id}").status_code == 200
    # alice's credentials are dead; the log keeps the deletion, unlinked from the gone row
    assert_error(alice_api.get("/api/v1/backtests"), 401, "AUTHENTICATION_FAILED")
    refused = anon_api.post("/api/v1/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert_error(refused, 401, "AUTHENTICATION_FAILED")
    entry = AuditEntry.objects.get(action="account.delete", outcome="ok")
    assert entry.user is None and entry.username == "alice"
    assert entry.details["username"] == "alice" and entry.details["removed"]["backtests"]["runs"] == 2
    assert entry.details["removed"]["marketdata"] == {"datasets": 1}


def test_admin_deleting_a_user_also_removes_their_files(admin_client, alice, make_run):
    run = make_run(alice)
    key = Artifact.objects.get(run=run).storage_key
    response = admin_client.post(f"/admin/auth/user/{alice.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not get_user_model().objects.filter(id=alice.id).exists()
    assert not default_storage.exists(key)
    assert AuditEntry.objects.filter(action="account.delete", username="root").exists()
