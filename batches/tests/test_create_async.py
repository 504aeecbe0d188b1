"""Large batches are saved by a task: the POST validates and saves the batch alone (202, no run
yet), ``batch_create_runs`` (the body of ``batches.tasks.create_batch_runs``, called here in the
test's process) saves the runs in chunks; a failure midway ends the batch FAILED, a cancel
stops it. The broker is stood in for by a recorder of the tasks sent by name."""

from types import SimpleNamespace

import pytest
from celery import current_app
from django.conf import settings
from django.test import override_settings

from backtests import services as run_services
from backtests.models import BacktestRun, RunStatus
from backtests.tests.factories import v4_body
from batches.models import Batch, BatchStage, BatchStatus
from batches.services import lifecycle
from plans.models import Plan
from qm_platform.errors import CodedError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_pdf", "roomy_plan")]
PERIOD = "decisionBlocks[0].subConfirmations[0].config.period"
TP = "exit.takeProfit"
SHORT = dict(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-04-01T00:00:00Z")
GRID_300 = {PERIOD: list(range(2, 22)), TP: [round(1 + i / 10, 1) for i in range(15)]}
CHUNK = 128  # 300 runs: a small first chunk, then chunks of 128


@pytest.fixture
def no_pdf():
    with override_settings(QM_RENDER_PDF=False, QM_BATCH_RENDER_PDF=False):
        yield


@pytest.fixture
def roomy_plan():
    Plan.objects.filter(slug="free").update(combinations_per_batch=1000, runs_per_day=10_000)


def first_chunk() -> int:
    """The runs batch_create_runs saves in its first chunk."""
    return lifecycle.FIRST_CREATE_CHUNKS * settings.QM_BATCH_CHUNK_RUNS


@pytest.fixture
def large():
    """Batches above 10 first-pass runs are created by the task."""
    with override_settings(QM_BATCH_INLINE_RUNS=10, QM_BATCH_CREATE_CHUNK=CHUNK):
        yield


@pytest.fixture
def sent(monkeypatch):
    """The tasks sent by name, as (name, args); nothing reaches a broker."""
    tasks: list[tuple[str, list]] = []

    def record(name, args=None, **kwargs):
        tasks.append((name, list(args or [])))
        return SimpleNamespace(id=f"task-{len(tasks)}")

    monkeypatch.setattr(current_app, "send_task", record)
    return tasks


def post_large(alice, **definition):
    definition.setdefault("strategy", v4_body(**SHORT))
    definition.setdefault("grid", GRID_300)
    return lifecycle.batch_create(user=alice, definition=definition)


def test_a_large_batch_answers_202_before_any_run_exists_and_the_task_creates_them_all(
    alice_api, large, sent, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post("/api/v1/batches", {"strategy": v4_body(**SHORT), "grid": GRID_300}, format="json")
    assert response.status_code == 202, response.json()
    answer = response.json()
    assert answer["stage"] == BatchStage.CREATING and answer["planned_runs"] == 300
    assert answer["runs"] == 0 and answer["cached"] == 0
    assert not BacktestRun.objects.exists()
    assert sent == [(lifecycle.CREATE_RUNS_TASK, [answer["id"]])]
    detail = alice_api.get(f"/api/v1/batches/{answer['id']}").json()
    assert (detail["status"], detail["stage"], detail["created_runs"]) == ("RUNNING", "creating_runs", 0)
    assert lifecycle.batch_advance(batch_id=answer["id"]) == BatchStatus.RUNNING  # not finished: no run yet

    chunks = []
    real = lifecycle.backtest_submit_many
    monkeypatch.setattr(lifecycle, "backtest_submit_many", lambda **kw: chunks.append(len(kw["items"])) or real(**kw))
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.batch_create_runs(batch_id=answer["id"]) == BatchStatus.RUNNING

    runs = BacktestRun.objects.filter(batch_id=answer["id"])
    # the first chunk small (a few run chunks' worth): workers start on it while the rest are saved
    assert chunks == [first_chunk(), CHUNK, CHUNK, 300 - 2 * CHUNK - first_chunk()]
    assert runs.count() == 300
    assert sorted(runs.values_list("batch_params__combination", flat=True)) == list(range(300))
    assert len({(r[PERIOD], r[TP]) for r in runs.values_list("batch_params__params", flat=True)}) == 300
    assert len(set(runs.values_list("request_fingerprint", flat=True))) == 300
    plan = Plan.objects.get(slug="free")
    # handed to the per-user dispatcher, not all sent: the plan's room, as one chunk task
    ((name, (chunk,)),) = sent
    assert name == run_services.RUN_CHUNK_TASK and len(chunk) == plan.concurrent_runs
    sent_ids = runs.filter(dispatched_at__isnull=False).values_list("id", flat=True)
    assert set(chunk) == {str(run_id) for run_id in sent_ids}
    detail = alice_api.get(f"/api/v1/batches/{answer['id']}").json()
    assert (detail["stage"], detail["created_runs"], detail["counts"]["QUEUED"]) == ("running", 300, 300)
    assert lifecycle.batch_create_runs(batch_id=answer["id"]) == BatchStatus.RUNNING  # a second delivery
    assert runs.count() == 300


def test_a_small_batch_is_still_created_inline(alice_api, large, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(
            "/api/v1/batches", {"strategy": v4_body(**SHORT), "grid": {PERIOD: [7, 14]}}, format="json"
        )
    answer = response.json()
    assert response.status_code == 202 and answer["stage"] == BatchStage.RUNNING and answer["runs"] == 2
    assert lifecycle.CREATE_RUNS_TASK not in [name for name, _ in sent]


def test_a_refused_large_batch_saves_nothing(alice_api, large, sent):
    response = alice_api.post(
        "/api/v1/batches", {"strategy": v4_body(**SHORT), "grid": {**GRID_300, "exit.takeProfitt": [1]}}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "INVALID_GRID_PATH"
    assert not Batch.objects.exists() and sent == []


def test_cached_combinations_of_a_large_batch_are_answered_from_the_owners_cache(alice, bob, large, sent):
    small = lifecycle.batch_create(user=alice, definition={"strategy": v4_body(**SHORT), "grid": {PERIOD: [2, 3]}})
    for run_id in small.runs.values_list("id", flat=True):
        run_services.backtest_execute(run_id=run_id)
    mine, bobs = post_large(alice), post_large(bob)
    lifecycle.batch_create_runs(batch_id=mine.id)
    lifecycle.batch_create_runs(batch_id=bobs.id)
    cached = BacktestRun.objects.filter(batch=mine, cached=True)
    assert cached.count() == 2 and set(cached.values_list("status", flat=True)) == {RunStatus.SUCCEEDED}
    assert all(run.trades.count() == run.trade_count for run in cached)
    assert not BacktestRun.objects.filter(batch=bobs, cached=True).exists()  # never another user's


@pytest.mark.parametrize(
    "error, code",
    [
        (CodedError("INVALID_REQUEST", "bad combination"), "INVALID_REQUEST"),
        (RuntimeError("disk"), "BATCH_CREATE_FAILED"),
    ],
)
def test_a_failure_midway_ends_the_batch_failed_with_its_reason(alice, large, sent, monkeypatch, error, code):
    batch = post_large(alice)
    real = lifecycle.combination_compile
    calls = []

    def breaks_at_200(**kwargs):
        calls.append(1)
        if len(calls) == 200:
            raise error
        return real(**kwargs)

    monkeypatch.setattr(lifecycle, "combination_compile", breaks_at_200)
    assert lifecycle.batch_create_runs(batch_id=batch.id) == BatchStatus.FAILED
    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED and batch.error_code == code and batch.finished_at
    assert batch.error_message
    runs = BacktestRun.objects.filter(batch=batch)
    assert runs.count() == first_chunk() + CHUNK  # the first chunks were saved, then cancelled: they must not run
    assert set(runs.values_list("status", flat=True)) == {RunStatus.CANCELLED}
    assert lifecycle.batch_sweep() == 0  # nothing left running


def test_a_cancel_during_creation_stops_it(alice, large, sent, monkeypatch):
    batch = post_large(alice)
    real = lifecycle.backtest_submit_many
    calls = []

    def cancel_first(**kwargs):  # the user cancels while the first chunk is being saved
        calls.append(1)
        if len(calls) == 1:
            lifecycle.batch_cancel(batch=Batch.objects.get(id=batch.id))
        return real(**kwargs)

    monkeypatch.setattr(lifecycle, "backtest_submit_many", cancel_first)
    assert lifecycle.batch_create_runs(batch_id=batch.id) == BatchStatus.CANCELLED
    assert len(calls) == 1
    runs = BacktestRun.objects.filter(batch=batch)
    assert runs.count() == first_chunk() and set(runs.values_list("status", flat=True)) == {RunStatus.CANCELLED}
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CANCELLED and batch.summary["runs"]["total"] == first_chunk()


def test_a_broker_that_refuses_the_task_fails_the_batch_at_once(alice, large, monkeypatch):
    def broker_down(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(current_app, "send_task", broker_down)
    batch = lifecycle.batch_create(user=alice, definition={"strategy": v4_body(**SHORT), "grid": GRID_300})
    lifecycle._send_create_runs(batch_id=batch.id)  # what the commit of the request runs
    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED and batch.error_code == "BROKER_UNAVAILABLE"


def test_a_large_walk_forward_batch_creates_its_in_sample_runs_in_the_task(alice, large, sent):
    body = v4_body(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-09-01T00:00:00Z")
    batch = lifecycle.batch_create(
        user=alice,
        definition={
            "mode": "walk_forward",
            "strategy": body,
            "grid": {PERIOD: [7, 14, 21], TP: [1.5, 3.0]},
            "walkForward": {"inSample": "3mo", "outOfSample": "1mo", "step": "1mo"},
        },
    )
    assert batch.stage == BatchStage.CREATING and not batch.runs.exists()
    lifecycle.batch_create_runs(batch_id=batch.id)
    runs = list(BacktestRun.objects.filter(batch=batch))
    assert len(runs) == 6 * 5 == batch.planned_runs - 5
    assert {(r.batch_params["combination"], r.batch_params["window"]) for r in runs} == {
        (c, w) for c in range(6) for w in range(5)
    }
    assert {r.batch_params["phase"] for r in runs} == {"in_sample"}
    first_window = next(w for w in Batch.objects.get(id=batch.id).windows if w["index"] == 0)
    assert all(
        r.data_start.isoformat()[:10] == first_window["is_start"][:10] for r in runs if r.batch_params["window"] == 0
    )


def test_the_task_reads_each_markets_instrument_once_and_every_run_gets_its_warning(alice, large, sent, monkeypatch):
    import marketdata.selectors
    from backtests.strategies.compile import request_compile

    # an unknown market (Yahoo passes it through): each run is warned, as when it is compiled alone
    strategy = v4_body(marketContext__market="ACMEUSD", marketContext__dataSource="yahoo")
    for key in ("startDate", "endDate"):
        strategy["marketContext"].pop(key)
    strategy["marketContext"]["testPeriod"] = "1mo"
    alone = request_compile(strategy, user=alice)
    assert any("ACMEUSD is not in the instrument table" in w for w in alone.warnings)
    batch = post_large(alice, strategy=strategy)
    real, calls = marketdata.selectors.instrument_resolve, []
    monkeypatch.setattr(
        marketdata.selectors, "instrument_resolve", lambda **kw: calls.append(kw["symbol"]) or real(**kw)
    )

    lifecycle.batch_create_runs(batch_id=batch.id)

    runs = BacktestRun.objects.filter(batch=batch)
    assert runs.count() == 300 and calls == ["ACMEUSD"]
    assert {tuple(run.warnings) for run in runs} == {tuple(alone.warnings)}
