"""The batch and schedule API: the error contract, isolation between users, the detail view
(counts, progress, ETA, sortable results) and schedule CRUD."""

import pytest
from django.test import override_settings

from backtests import services as run_services
from backtests.models import BacktestRun, RunStatus
from backtests.tests.factories import v4_body
from batches.services import lifecycle, schedules

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quiet")]
PERIOD = "decisionBlocks[0].subConfirmations[0].config.period"
SHORT = dict(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-04-01T00:00:00Z")


@pytest.fixture
def quiet(monkeypatch):
    """No PDFs, and the chord is not sent: the test runs the runs itself."""
    monkeypatch.setattr(lifecycle, "batch_dispatch", lambda **kw: True)
    with override_settings(QM_RENDER_PDF=False, QM_BATCH_RENDER_PDF=False):
        yield


def post_batch(client, **definition):
    definition.setdefault("strategy", v4_body(**SHORT))
    return client.post("/api/v1/batches", definition, format="json")


def test_post_answers_202_and_get_shows_counts_progress_and_sorted_results(alice_api):
    response = post_batch(alice_api, grid={PERIOD: [7, 14, 21]}, objective="profit_factor")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["runs"] == 3 and body["cached"] == 0 and body["status"] == "RUNNING"
    detail = alice_api.get(body["status_url"]).json()
    assert detail["counts"]["QUEUED"] == 3 and detail["progress"] == 0 and detail["eta_seconds"] is None
    first = BacktestRun.objects.filter(batch_id=body["id"]).first()
    run_services.backtest_execute(run_id=first.id)
    detail = alice_api.get(body["status_url"]).json()
    assert detail["counts"]["SUCCEEDED"] == 1 and 33 <= detail["progress"] <= 34 and detail["eta_seconds"] >= 0
    for run in BacktestRun.objects.filter(batch_id=body["id"], status=RunStatus.QUEUED):
        run_services.backtest_execute(run_id=run.id)
    lifecycle.batch_advance(batch_id=body["id"])
    detail = alice_api.get(body["status_url"] + "?sort=trade_count&order=asc&limit=2").json()
    assert detail["status"] == "SUCCEEDED" and detail["progress"] == 100
    rows = detail["results"]["rows"]
    assert detail["results"]["total"] == 3 and len(rows) == 2
    assert rows[0]["metrics"]["trade_count"] <= rows[1]["metrics"]["trade_count"]
    assert set(rows[0]["params"]) == {PERIOD}
    best = detail["summary"]["best"]
    assert best["score"] == max(r["score"] for r in alice_api.get(body["status_url"]).json()["results"]["rows"])
    assert detail["summary"]["dsr"]["trials"] == 3
    page = alice_api.get(detail["links"]["report"])
    assert page.status_code == 200 and b"Deflated Sharpe Ratio" in page.content
    assert b"Best run: Monte Carlo robustness" in page.content and b"Best run against" in page.content
    best_run = BacktestRun.objects.get(id=best["run_id"])
    curve = alice_api.get(detail["links"]["best_equity"]).json()
    assert curve["id"] == best["run_id"] and curve["max_drawdown_pct"] == best_run.metrics["max_drawdown_pct"]
    assert alice_api.get(detail["links"]["best_montecarlo"]).json() == best_run.montecarlo["bootstrap"]
    assert alice_api.get(detail["links"]["best_benchmark"]).json()["metrics"]["beta"] == best_run.metrics["beta"]


def test_errors_follow_the_contract(alice_api):
    response = post_batch(alice_api, grid={"exit.takeProfitt": [1, 2]})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_GRID_PATH" and response.json()["success"] is False
    assert "takeProfit" in response.json()["details"]["suggestions"]
    response = alice_api.post("/api/v1/batches", {"template": "ema_pullback"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "TEMPLATE_NOT_FOUND"
    response = post_batch(alice_api, sample={"n": 0})
    assert response.status_code == 400 and response.json()["code"] == "INVALID_REQUEST"
    response = post_batch(alice_api, mode="walk_forward", walkForward={"inSample": "6mo", "outOfSample": "2mo"})
    assert response.status_code == 400 and response.json()["code"] == "INVALID_WALK_FORWARD"


def test_other_users_and_anonymous_clients_see_nothing(alice_api, bob_api, anon_api):
    batch_id = post_batch(alice_api, grid={PERIOD: [7, 14]}).json()["id"]
    assert bob_api.get(f"/api/v1/batches/{batch_id}").status_code == 404
    assert bob_api.post(f"/api/v1/batches/{batch_id}/cancel").status_code == 404
    assert bob_api.get("/api/v1/batches").json()["results"] == []
    assert anon_api.get(f"/api/v1/batches/{batch_id}").status_code == 401


def test_cancel_over_the_api(alice_api):
    batch_id = post_batch(alice_api, grid={PERIOD: [7, 14]}).json()["id"]
    not_ready = alice_api.get(f"/api/v1/batches/{batch_id}/report.pdf")
    assert not_ready.status_code == 404 and not_ready.json()["code"] == "REPORT_NOT_READY"
    response = alice_api.post(f"/api/v1/batches/{batch_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    assert set(BacktestRun.objects.filter(batch_id=batch_id).values_list("status", flat=True)) == {"CANCELLED"}
    again = alice_api.post(f"/api/v1/batches/{batch_id}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "INVALID_STATE"


def test_schedule_crud(alice_api, bob_api):
    from django_celery_beat.models import PeriodicTask

    definition = {"strategy": v4_body(**SHORT), "grid": {PERIOD: [7, 14]}}
    response = alice_api.post(
        "/api/v1/schedules",
        {"name": "mornings", "definition": definition, "cron": "0 6 * * 1-5", "timezone": "America/New_York"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    schedule = response.json()
    assert PeriodicTask.objects.filter(name=f"qm-batch-schedule-{schedule['id']}", enabled=True).exists()
    url = f"/api/v1/schedules/{schedule['id']}"
    patched = alice_api.patch(url, {"enabled": False, "cron": "15 7 * * *"}, format="json")
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    task = PeriodicTask.objects.get(name=f"qm-batch-schedule-{schedule['id']}")
    assert not task.enabled and task.crontab.minute == "15"
    bad = alice_api.patch(url, {"cron": "0 25 * * *"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_SCHEDULE"
    assert bob_api.get(url).status_code == 404 and bob_api.get("/api/v1/schedules").json() == []
    assert [s["name"] for s in alice_api.get("/api/v1/schedules").json()] == ["mornings"]
    broken = alice_api.post(
        "/api/v1/schedules",
        {"name": "broken", "interval_seconds": 3600, "definition": {"strategy": v4_body(), "grid": {"nope": [1]}}},
        format="json",
    )
    assert broken.status_code == 400 and broken.json()["code"] == "INVALID_GRID_PATH"
    assert alice_api.delete(url).status_code == 204
    assert not PeriodicTask.objects.filter(name=f"qm-batch-schedule-{schedule['id']}").exists()


def test_admin_pages_for_batches_and_schedules(admin_client, alice):
    schedules.schedule_create(
        user=alice, name="admin view", definition={"strategy": v4_body(**SHORT)}, interval_seconds=3600
    )
    batch = lifecycle.batch_create(user=alice, definition={"strategy": v4_body(**SHORT), "grid": {PERIOD: [7, 14]}})
    for url in (
        "/admin/batches/batch/",
        "/admin/batches/schedule/",
        "/admin/batches/batchlimit/",
        "/admin/batches/schedule/add/",
        f"/admin/batches/batch/{batch.id}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url
    # a batch is read here, never saved over its lifecycle; cancelling stays an action of the list
    assert 'name="_save"' not in admin_client.get(f"/admin/batches/batch/{batch.id}/change/").content.decode()
    assert admin_client.post(f"/admin/batches/batch/{batch.id}/change/", {}).status_code == 403
    assert admin_client.get("/admin/batches/batch/add/").status_code == 403
    admin_client.post("/admin/batches/batch/", {"action": "cancel", "_selected_action": [str(batch.id)]})
    batch.refresh_from_db()
    assert batch.status == "CANCELLED"
