"""Batches, walk-forward and schedules that name a saved strategy (backtests.library): the
version they ran is recorded, "latest" follows new versions, drift says when the version changed,
a schedule whose strategy no longer compiles pauses itself, and another user's strategy is 404."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from backtests.library import services as library
from backtests.models import BacktestRun, Strategy, StrategyVersion
from backtests.tests.factories import v4_body
from batches.models import Batch
from batches.services import lifecycle, schedules
from batches.tests.test_batches import run_all
from qm_platform.errors import CodedError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_pdf")]
SHORT = dict(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-04-01T00:00:00Z")
TP = "exit.takeProfit"


@pytest.fixture
def no_pdf():
    with override_settings(QM_RENDER_PDF=False, QM_BATCH_RENDER_PDF=False):
        yield


@pytest.fixture
def saved(alice):
    strategy = library.strategy_create(user=alice, name="RSI dip", body=v4_body(**SHORT))
    library.strategy_update(strategy=strategy, body=v4_body(exit__takeProfit=3.0, **SHORT))
    return strategy


def test_a_batch_of_a_saved_version_records_it_on_the_batch_and_its_runs(alice, alice_api, saved):
    response = alice_api.post(
        "/api/v1/batches", {"strategy": saved.id, "version": 1, "grid": {TP: [1.5, 2.5]}}, format="json"
    )
    assert response.status_code == 202, response.json()
    batch = Batch.objects.get(id=response.json()["id"])
    assert (batch.strategy_id, batch.strategy_version) == (saved.id, 1)
    runs = BacktestRun.objects.filter(batch=batch)
    assert {(r.strategy_id, r.strategy_version) for r in runs} == {(saved.id, 1)}
    assert sorted(r.request["exit"]["takeProfit"] for r in runs) == [1.5, 2.5]
    assert all(r.request["exit"]["stopLoss"] == 1.0 for r in runs)  # the rest is version 1's body
    assert batch.definition["savedStrategy"] == {"id": saved.id, "version": 1, "requested": 1}

    history = alice_api.get(f"/api/v1/strategies/{saved.id}/runs").json()
    assert [(b["id"], b["version"]) for b in history["batches"]] == [(str(batch.id), 1)]
    assert history["runs"] == []  # batch runs are listed under their batch


def test_walk_forward_of_the_latest_version(alice, saved):
    batch = lifecycle.batch_create(
        user=alice,
        definition={
            "strategy": saved.id,
            "mode": "walk_forward",
            "grid": {TP: [2, 3]},
            "walkForward": {"inSample": "1mo", "outOfSample": "1mo"},
        },
    )
    assert batch.strategy_version == 2
    run_all(batch)
    assert batch.runs.filter(batch_params__phase="out_of_sample").exists()
    assert set(batch.runs.values_list("strategy_version", flat=True)) == {2}


def test_another_users_strategy_is_404_for_batches_and_schedules(alice_api, bob_api, saved):
    batch = bob_api.post("/api/v1/batches", {"strategy": saved.id, "grid": {TP: [2, 3]}}, format="json")
    assert batch.status_code == 404 and batch.json()["code"] == "NOT_FOUND"
    schedule = bob_api.post(
        "/api/v1/schedules",
        {"name": "mine", "interval_seconds": 3600, "definition": {"strategy": saved.id}},
        format="json",
    )
    assert schedule.status_code == 404
    missing = alice_api.post("/api/v1/batches", {"strategy": saved.id, "version": 9}, format="json")
    assert missing.status_code == 404 and missing.json()["details"]["latest_version"] == 2
    assert not Batch.objects.exists()


def test_another_users_strategy_is_404_through_walk_forward_schedule_edits_and_every_page(bob, bob_api, saved):
    """Bob names alice's strategy wherever a strategy can be named: a walk-forward, an edit of his
    own schedule, the schedule form, a builder's JSON and its hidden ``strategy_ref``."""
    from django.test import Client

    wf = {"mode": "walk_forward", "strategy": saved.id, "grid": {TP: [2, 3]}}
    wf["walkForward"] = {"inSample": "1mo", "outOfSample": "1mo"}
    response = bob_api.post("/api/v1/batches", wf, format="json")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    own = schedules.schedule_create(
        user=bob, name="bob's", definition={"strategy": v4_body(**SHORT), "grid": {TP: [2, 3]}}, interval_seconds=3600
    )
    response = bob_api.patch(f"/api/v1/schedules/{own.id}", {"definition": {"strategy": saved.id}}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    own.refresh_from_db()
    assert own.strategy_id is None and own.definition["strategy"]["exit"] == v4_body()["exit"]

    page = Client()
    page.force_login(bob)
    form = {"name": "mine", "timing": "interval", "interval_seconds": "3600", "timezone": "UTC"}
    response = page.post("/schedules/new/", {**form, "definition": json.dumps({"strategy": saved.id})})
    assert response.status_code == 404 and "RSI dip" not in response.content.decode()
    response = page.post("/run-backtest-v4", {"payload": json.dumps({"strategy": saved.id})})
    assert response.status_code == 404 and "RSI dip" not in response.content.decode()
    # alice's exact body with her strategy's id in the hidden field runs as bob's own body
    response = page.post("/run-backtest-v4", {"payload": json.dumps(saved.definition), "strategy_ref": saved.id})
    assert response.status_code == 303
    run = BacktestRun.objects.get(owner=bob)
    assert run.strategy_id is None and run.strategy_version is None
    assert not Batch.objects.exists() and list(bob.batch_schedules.all()) == [own]
    assert not BacktestRun.objects.filter(strategy=saved).exists()


def test_a_schedule_on_latest_follows_new_versions_and_drift_names_the_change(alice, saved, monkeypatch):
    monkeypatch.setattr(schedules, "_refresh_data", lambda definition, body: [])
    schedule = schedules.schedule_create(
        user=alice, name="weekly", definition={"strategy": saved.id, "version": "latest"}, interval_seconds=3600
    )
    assert schedule.strategy_id == saved.id
    first = schedules.schedule_fire(schedule_id=schedule.id)
    run_all(first)
    assert first.strategy_version == 2 and first.drift is None

    library.strategy_update(strategy=saved, body=v4_body(exit__takeProfit=4.0, **SHORT))
    second = schedules.schedule_fire(schedule_id=schedule.id)
    run_all(second)
    assert second.strategy_version == 3
    assert second.runs.get().request["exit"]["takeProfit"] == 4.0
    assert second.drift["strategy_version"] == {"previous": 2, "current": 3, "changed": True}
    assert "from version 2 to version 3" in second.drift["version_note"]

    third = schedules.schedule_fire(schedule_id=schedule.id)
    run_all(third)
    assert third.drift["strategy_version"]["changed"] is False and "version_note" not in third.drift


def test_a_schedule_whose_latest_version_no_longer_compiles_pauses_itself(alice, saved, monkeypatch):
    from django_celery_beat.models import PeriodicTask

    monkeypatch.setattr(schedules, "_refresh_data", lambda definition, body: [])
    schedule = schedules.schedule_create(
        user=alice, name="daily", definition={"strategy": saved.id}, interval_seconds=3600
    )
    broken = v4_body(decisionBlocks__0__subConfirmations__0__moduleId="removed_module", **SHORT)
    Strategy.objects.filter(id=saved.id).update(definition=broken)  # e.g. a module removed in a release
    StrategyVersion.objects.filter(strategy=saved, number=2).update(body=broken)

    assert schedules.schedule_fire(schedule_id=schedule.id) is None
    schedule.refresh_from_db()
    assert not schedule.enabled and not PeriodicTask.objects.get(id=schedule.periodic_task_id).enabled
    assert "no longer compiles" in schedule.last_error and "MODULE_NOT_FOUND" in schedule.last_error
    assert not Batch.objects.exists()


def test_a_schedule_of_a_deleted_strategy_pauses_itself(alice, saved, monkeypatch):
    monkeypatch.setattr(schedules, "_refresh_data", lambda definition, body: [])
    schedule = schedules.schedule_create(
        user=alice, name="daily", definition={"strategy": saved.id}, interval_seconds=3600
    )
    library.strategy_delete(strategy=saved)
    assert schedules.schedule_fire(schedule_id=schedule.id) is None
    schedule.refresh_from_db()
    assert not schedule.enabled and "no longer exists" in schedule.last_error


def test_a_strategy_reference_that_is_not_an_id_is_400(alice):
    with pytest.raises(CodedError) as excinfo:
        lifecycle.batch_create(user=alice, definition={"strategy": "twelve"})
    assert excinfo.value.code == "INVALID_REQUEST" and excinfo.value.details["field"] == "strategy"


def test_optimising_a_run_of_a_saved_strategy_sweeps_that_version(client, alice, saved):
    from batches.tests.test_pages import PERIOD, sweep_form
    from reports.tests.factories import stored_run

    run = stored_run(alice)
    BacktestRun.objects.filter(id=run.id).update(strategy=saved, strategy_version=1)
    run.refresh_from_db()
    client.force_login(alice)
    response = client.post(f"/batches/new/?run={run.id}", sweep_form(run))
    assert response.status_code == 303, response.content.decode()[:2000]
    batch = Batch.objects.get()
    assert (batch.strategy_id, batch.strategy_version) == (saved.id, 1)
    assert batch.definition["grid"] == {PERIOD: [10, 12, 14]}
    assert batch.definition["strategy"]["marketContext"] == run.request["marketContext"]
    assert set(batch.runs.values_list("strategy_version", flat=True)) == {1}
    page = client.get(f"/batches/{batch.id}/").content.decode()
    assert f'href="/strategies/{saved.id}/"' in page and "version 1" in page
