"""End to end with a real Celery worker process on Redis and PostgreSQL: a batch posted over
the API fans out through the per-user dispatcher, the last run's end builds the summary, the batch PDF is rendered on
the reports queue, and an identical batch is answered from the result cache and still ends."""

import time

import pytest

from backtests.models import BacktestRun, RunStatus
from backtests.tests.factories import v4_body
from batches.models import Batch, BatchStatus
from conftest import WorkerProcess, flush_broker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PERIOD = "decisionBlocks[0].subConfirmations[0].config.period"
TP = "exit.takeProfit"


def wait_for(predicate, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def final_batch(batch_id):
    return Batch.objects.filter(
        id=batch_id, status__in=[BatchStatus.SUCCEEDED, BatchStatus.FAILED, BatchStatus.CANCELLED]
    ).first()


def test_a_batch_fans_out_over_a_real_worker_and_ends_with_summary_and_pdf(tmp_path, alice_api):
    flush_broker()
    worker = WorkerProcess(tmp_path / "worker.log", concurrency=2, QM_RENDER_PDF=0)
    try:
        definition = {
            "strategy": v4_body(
                marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-04-01T00:00:00Z"
            ),
            "grid": {PERIOD: [7, 14, 21], TP: [1.5, 3.0]},
            "objective": "net_return",
        }
        response = alice_api.post("/api/v1/batches", definition, format="json")
        assert response.status_code == 202, response.json()
        batch_id = response.json()["id"]
        batch = wait_for(lambda: final_batch(batch_id), what="the batch to finish")
        assert batch.status == BatchStatus.SUCCEEDED, (batch.status, batch.summary)
        assert list(BacktestRun.objects.filter(batch=batch).values_list("status", flat=True)) == ["SUCCEEDED"] * 6
        assert batch.summary["best"]["metrics"]["net_return_pct"] == max(
            r.metrics["net_return_pct"] for r in BacktestRun.objects.filter(batch=batch)
        )
        wait_for(lambda: Batch.objects.get(id=batch_id).report_key, timeout=60, what="the batch PDF")
        pdf = alice_api.get(f"/api/v1/batches/{batch_id}/report.pdf")
        assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")

        again = alice_api.post("/api/v1/batches", definition, format="json").json()
        assert again["cached"] == 6
        repeat = wait_for(lambda: final_batch(again["id"]), timeout=30, what="the cached batch to finish")
        assert repeat.status == BatchStatus.SUCCEEDED
        assert repeat.summary["best"]["params"] == batch.summary["best"]["params"]
        assert not BacktestRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists()
    finally:
        worker.stop()


def test_another_users_run_is_not_queued_behind_a_large_batch(tmp_path, alice, alice_api, bob_api):
    """Fair queues: Alice's batch keeps at most her plan's number of runs in the broker, so Bob's
    run, submitted after her whole batch, starts after at most that many of hers (plus the ones
    the worker already holds), not after all of them."""
    from plans.selectors import plan_for_user

    flush_broker()
    free = plan_for_user(user=alice)  # Free, the plan of a new account
    free.combinations_per_batch = 1000
    free.save()
    worker = WorkerProcess(tmp_path / "worker.log", concurrency=1, QM_RENDER_PDF=0)
    try:
        definition = {
            "strategy": v4_body(
                marketContext__startDate="2024-01-01T00:00:00Z",
                marketContext__endDate="2024-07-01T00:00:00Z",
                cache=False,
            ),
            "grid": {PERIOD: list(range(2, 42)), TP: [1.5, 2.0, 3.0]},
        }
        response = alice_api.post("/api/v1/batches", definition, format="json")
        assert response.status_code == 202, response.json()
        batch_id = response.json()["id"]
        bobs = bob_api.post("/api/v1/backtests", v4_body(cache=False), format="json").json()
        bob_run = wait_for(
            lambda: BacktestRun.objects.filter(id=bobs["id"], started_at__isnull=False).first(),
            what="Bob's run to start",
        )
        alices_first = BacktestRun.objects.filter(batch_id=batch_id, started_at__lt=bob_run.started_at).count()
        assert alices_first <= free.concurrent_runs + 1, f"{alices_first} of Alice's runs started before Bob's"
        assert BacktestRun.objects.filter(batch_id=batch_id).count() == 120
        assert BacktestRun.objects.filter(batch_id=batch_id, status=RunStatus.QUEUED).count() > 60
        assert alice_api.post(f"/api/v1/batches/{batch_id}/cancel").status_code == 200
    finally:
        worker.stop()


def test_a_large_batch_is_answered_at_once_and_a_real_worker_creates_and_runs_it(tmp_path, alice_api, settings):
    """Above QM_BATCH_INLINE_RUNS the POST saves the batch alone; the worker's
    create_batch_runs task saves the runs in chunks, hands them to the dispatcher, and the
    batch ends as usual."""
    settings.QM_BATCH_INLINE_RUNS = 4
    flush_broker()
    worker = WorkerProcess(tmp_path / "worker.log", concurrency=2, QM_RENDER_PDF=0, QM_BATCH_CREATE_CHUNK=5)
    try:
        definition = {
            "strategy": v4_body(
                marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-04-01T00:00:00Z"
            ),
            "grid": {PERIOD: [7, 14, 21, 28], TP: [1.5, 3.0, 4.5]},
        }
        response = alice_api.post("/api/v1/batches", definition, format="json")
        assert response.status_code == 202, response.json()
        answer = response.json()
        assert answer["stage"] == "creating_runs" and answer["runs"] == 0 and answer["planned_runs"] == 12
        batch = wait_for(lambda: final_batch(answer["id"]), what="the batch to finish")
        assert batch.status == BatchStatus.SUCCEEDED and batch.stage == "running", (batch.status, batch.error_message)
        assert sorted(
            BacktestRun.objects.filter(batch=batch).values_list("batch_params__combination", flat=True)
        ) == list(range(12))
        assert batch.summary["runs"]["SUCCEEDED"] == 12
    finally:
        worker.stop()
