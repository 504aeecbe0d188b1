"""Operations without a worker process: idempotency, result cache, state machine, reaper,
claim takeover, database hiccups, health, metrics and structured logs."""

import json
import logging

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from backtests import services
from backtests.models import BacktestRun, RunStatus, Trade
from qm_platform import observability

from .factories import v4_body

pytestmark = pytest.mark.django_db
URL = "/api/v1/backtests"


@pytest.fixture(autouse=True)
def no_pdf():
    with override_settings(QM_RENDER_PDF=False):
        yield


def test_same_idempotency_key_returns_the_original_run(alice_api, bob_api):
    first = alice_api.post(URL, v4_body(), format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    again = alice_api.post(URL, v4_body(), format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other_user = bob_api.post(URL, v4_body(), format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert other_user.status_code == 202 and other_user.json()["id"] != first.json()["id"]
    assert BacktestRun.objects.count() == 2


def test_identical_request_is_answered_from_the_owners_result_cache(alice_api):
    original_id = alice_api.post(URL, v4_body(), format="json").json()["id"]
    assert services.backtest_execute(run_id=original_id) == RunStatus.SUCCEEDED
    before = observability.CACHE_LOOKUPS.labels(result="hit")._value.get()

    hit = alice_api.post(URL, v4_body(strategyName="renamed"), format="json")
    assert hit.status_code == 200
    body = hit.json()
    assert body["cached"] is True and body["status"] == "SUCCEEDED" and body["id"] != original_id
    assert observability.CACHE_LOOKUPS.labels(result="hit")._value.get() == before + 1
    run = alice_api.get(f"{URL}/{body['id']}").json()
    original = alice_api.get(f"{URL}/{original_id}").json()
    assert run["metrics"] == original["metrics"] and run["cache_source"] == original_id
    trades = alice_api.get(f"{URL}/{body['id']}/trades").json()
    assert trades["count"] == original["trade_count"] > 0
    assert Trade.objects.filter(run_id=body["id"]).count() == original["trade_count"]  # its own copies
    copied, source = BacktestRun.objects.get(id=body["id"]), BacktestRun.objects.get(id=original_id)
    assert copied.report_data == source.report_data and copied.report_data["has_prices"]
    BacktestRun.objects.filter(id=original_id).delete()
    assert alice_api.get(f"{URL}/{body['id']}/trades").json()["count"] == original["trade_count"]

    forced = alice_api.post(URL, v4_body(cache=False), format="json")
    assert forced.status_code == 202 and forced.json()["cached"] is False
    different = alice_api.post(URL, v4_body(exit__takeProfit=3.0), format="json")
    assert different.status_code == 202


def test_another_users_identical_request_is_never_answered_from_their_run(alice_api, bob_api, bob):
    original_id = alice_api.post(URL, v4_body(strategyName="alice secret"), format="json").json()["id"]
    assert services.backtest_execute(run_id=original_id) == RunStatus.SUCCEEDED

    answer = bob_api.post(URL, v4_body(strategyName="bob's"), format="json")
    assert answer.status_code == 202 and answer.json()["cached"] is False
    bobs = BacktestRun.objects.get(id=answer.json()["id"])
    assert bobs.owner == bob and bobs.cache_source_id is None and bobs.status == RunStatus.QUEUED
    assert services.backtest_execute(run_id=bobs.id) == RunStatus.SUCCEEDED
    shown = json.dumps(bob_api.get(f"{URL}/{bobs.id}").json())
    shown += json.dumps(bob_api.get(f"{URL}/{bobs.id}/trades").json())
    assert original_id not in shown and "alice" not in shown


def test_cache_is_not_used_when_the_stored_data_changed(alice_api):
    original_id = alice_api.post(URL, v4_body(), format="json").json()["id"]
    services.backtest_execute(run_id=original_id)
    BacktestRun.objects.filter(id=original_id).update(data_checksum="0" * 64)
    assert alice_api.post(URL, v4_body(), format="json").status_code == 202


def test_illegal_transitions_raise_and_are_logged(alice, caplog):
    run = services.backtest_submit(user=alice, body=v4_body())
    with caplog.at_level(logging.ERROR, logger="qm.backtests"), pytest.raises(services.IllegalTransition):
        services.transition(run.id, to=RunStatus.RUNNING, frm=(RunStatus.SUCCEEDED,))
    assert "illegal transition" in caplog.text
    # A legal move from a state the run is not in changes nothing.
    assert services.transition(run.id, to=RunStatus.SUCCEEDED, frm=(RunStatus.RUNNING,)) is False
    assert BacktestRun.objects.get(id=run.id).status == RunStatus.QUEUED


def test_finished_run_cannot_be_cancelled(alice_api):
    run_id = alice_api.post(URL, v4_body(), format="json").json()["id"]
    services.backtest_execute(run_id=run_id)
    response = alice_api.post(f"{URL}/{run_id}/cancel")
    assert response.status_code == 409 and response.json()["code"] == "INVALID_STATE"


def _make_stale(run_id, attempts):
    BacktestRun.objects.filter(id=run_id).update(
        status=RunStatus.RUNNING,
        attempts=attempts,
        lease_token="dead-worker",
        stage="simulating",
        heartbeat_at=timezone.now() - timezone.timedelta(seconds=settings.QM_HEARTBEAT_TIMEOUT + 5),
    )


def test_reaper_requeues_a_silent_run_then_gives_up_with_worker_lost(alice, django_capture_on_commit_callbacks):
    run = services.backtest_submit(user=alice, body=v4_body())
    _make_stale(run.id, attempts=1)
    assert services.backtest_reap_stale()["requeued"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.lease_token == "" and run.progress == 0
    assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    assert BacktestRun.objects.get(id=run.id).attempts == 2

    lost = services.backtest_submit(user=alice, body=v4_body())
    _make_stale(lost.id, attempts=settings.QM_MAX_ATTEMPTS)
    assert services.backtest_reap_stale()["failed"] == 1
    lost.refresh_from_db()
    assert lost.status == RunStatus.FAILED and lost.error_code == "WORKER_LOST"


def test_redelivery_waits_for_a_live_worker_and_takes_over_a_dead_one(alice):
    run = services.backtest_submit(user=alice, body=v4_body())
    BacktestRun.objects.filter(id=run.id).update(
        status=RunStatus.RUNNING, lease_token="other", attempts=1, heartbeat_at=timezone.now()
    )
    with pytest.raises(services.RunBusy):
        services.backtest_execute(run_id=run.id)
    _make_stale(run.id, attempts=1)
    assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    # The dead worker's lease no longer lets it write anything.
    assert not services.transition(run.id, to=RunStatus.FAILED, frm=(RunStatus.RUNNING,), lease="other")


@pytest.mark.django_db(transaction=True)
def test_a_dropped_database_connection_mid_run_is_retried(alice, monkeypatch):
    run = services.backtest_submit(user=alice, body=v4_body())
    real_write = services.ProgressWriter.write
    killed = []

    def write_after_killing_our_connection(self, stage, pct):
        if not killed:
            pid = connection.connection.info.backend_pid
            db = settings.DATABASES["default"]
            with psycopg.connect(
                host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
            ) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killed.append(pid)
        return real_write(self, stage, pct)

    monkeypatch.setattr(services.ProgressWriter, "write", write_after_killing_our_connection)
    # every progress call writes (a fast run may otherwise write none: the throttle)
    with override_settings(QM_PROGRESS_MIN_INTERVAL=0):
        assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    assert killed and connection.connection.info.backend_pid != killed[0]
    run.refresh_from_db()
    assert run.trade_count == Trade.objects.filter(run=run).count() > 0


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        down = client.get("/readyz")
    assert down.status_code == 503
    assert set(down.json()["problems"]) == {"broker"}


@override_settings(QM_METRICS_TOKEN="scrape-token")
def test_prometheus_metrics(alice_api, client):
    run_id = alice_api.post(URL, v4_body(), format="json").json()["id"]
    services.backtest_execute(run_id=run_id)
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token").content.decode()
    assert 'qm_runs{status="SUCCEEDED"} 1.0' in text
    assert "qm_backtest_stage_seconds_bucket" in text
    assert 'qm_result_cache_lookups_total{result="miss"}' in text
    assert 'qm_queue_depth{queue="backtests"}' in text


def test_json_logs_carry_the_run_id(capsys):
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s %(run_id)s"))
    handler.addFilter(observability.RunIdFilter())
    log = logging.getLogger("qm.test.json")
    log.addHandler(handler)
    try:
        observability.set_run_id("run-123")
        log.warning("claimed")
    finally:
        log.removeHandler(handler)
        observability.set_run_id("")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["run_id"] == "run-123" and line["message"] == "claimed"


def test_a_run_sent_but_never_claimed_is_sent_again_once_and_runs_once(alice, monkeypatch, caplog):
    sent = []

    class Sent:
        id = "task-again"

    def send_task(name, args, **options):
        sent.append(args[0])
        return Sent()

    monkeypatch.setattr(services.current_app, "send_task", send_task)
    long_ago = timezone.now() - timezone.timedelta(seconds=settings.QM_REDISPATCH_SECONDS + 5)
    lost, recent, running, never_sent = (services.backtest_submit(user=alice, body=v4_body()) for _ in range(4))
    BacktestRun.objects.filter(id__in=[lost.id, running.id]).update(dispatched_at=long_ago)
    BacktestRun.objects.filter(id=recent.id).update(dispatched_at=timezone.now())
    BacktestRun.objects.filter(id=running.id).update(status=RunStatus.RUNNING, lease_token="x")
    before = observability.RUNS_REDISPATCHED._value.get()

    with caplog.at_level(logging.WARNING, logger="qm.backtests"):
        assert services.backtest_redispatch_unclaimed() == 1
    assert sent == [str(lost.id)]  # not the recent one, the running one, nor the outbox's
    assert observability.RUNS_REDISPATCHED._value.get() == before + 1
    assert any("no worker claimed" in r.getMessage() and r.run_id == str(lost.id) for r in caplog.records)
    lost.refresh_from_db()
    assert lost.celery_task_id == "task-again" and lost.dispatched_at > long_ago
    assert services.backtest_redispatch_unclaimed() == 0  # at most once per interval

    # Both deliveries arrive: the run is executed once.
    assert services.backtest_execute(run_id=lost.id) == RunStatus.SUCCEEDED
    assert services.backtest_execute(run_id=lost.id) == RunStatus.SUCCEEDED
    lost.refresh_from_db()
    assert lost.attempts == 1


def test_the_beat_schedule_re_sends_unclaimed_runs():
    entry = settings.CELERY_BEAT_SCHEDULE["redispatch-unclaimed-runs"]
    assert entry["task"] == "backtests.tasks.redispatch_unclaimed_runs"
    assert 1 <= entry["schedule"] <= settings.QM_REDISPATCH_SECONDS
