"""A chunk of a batch's runs in one task (backtests.chunks): the same results as each run alone,
bit for bit, and the single run's guarantees: nothing twice, cancel, failure, take-over."""

import gc
from datetime import UTC, datetime

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.test import override_settings
from django.utils import timezone

from backtests import chunks, services
from backtests.engine import run_backtest
from backtests.models import BacktestRun, RunStatus, Trade
from backtests.strategies.parse import build_strategy
from marketdata.providers.synthetic import SyntheticProvider
from modules.base import BaseModule

from .factories import v4_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_pdf")]

STORED = (
    "status",
    "metrics",
    "trade_count",
    "equity_curve",
    "equity_detail",
    "report_data",
    "montecarlo",
    "data_checksum",
    "bars",
    "data_start",
    "data_end",
    "warnings",
    "data_quality",
    "engine_version",
    "progress",
    "stage",
    "error_code",
)
TRADE_FIELDS = [f.name for f in Trade._meta.concrete_fields if f.name not in ("id", "run")]


@pytest.fixture
def no_pdf():
    with override_settings(QM_RENDER_PDF=False):
        yield


def sweep_bodies():
    """Six combinations: two RSI levels × three targets (the exits differ, the signals repeat),
    one with a warm-up."""
    bodies = [
        v4_body(decisionBlocks__0__subConfirmations__0__config__value=level, exit__takeProfit=target)
        for level in (30, 40)
        for target in (1.0, 2.0, 3.0)
    ]
    bodies[-1]["marketContext"]["warmup"] = "2wk"
    return bodies


def submit_all(user, bodies):
    return [services.backtest_submit(user=user, body={**body, "cache": False}, dispatch=False) for body in bodies]


def stored(run_id):
    run = BacktestRun.objects.get(id=run_id)
    trades = list(Trade.objects.filter(run_id=run_id).order_by("seq").values_list(*TRADE_FIELDS))
    fields = {name: getattr(run, name) for name in STORED}
    fields["data_quality"].pop("checked_at")  # when the window was checked, not a result
    fields["data_quality"]["freshness"].pop("age_hours")  # the last bar's age then: moves every 36 s
    return fields, trades


def the_second_run_raises(monkeypatch, exc: BaseException) -> None:
    real, calls = services.run_engine, []

    def engine(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(chunks, "run_engine", engine)


def mixed_benchmarks(bodies: list[dict]) -> list[dict]:
    """Every other run measured against another market (SPX500), the rest against their own."""
    return [{**body, "benchmark": "spx500"} if i % 2 else body for i, body in enumerate(bodies)]


@pytest.mark.parametrize("benchmarks", [False, True], ids=["own-market", "mixed-benchmarks"])
def test_a_chunk_stores_exactly_what_each_run_alone_stores(alice, benchmarks):
    bodies = mixed_benchmarks(sweep_bodies()) if benchmarks else sweep_bodies()
    alone = submit_all(alice, bodies)
    for run in alone:
        assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    chunked = submit_all(alice, bodies)

    assert chunks.backtest_execute_chunk(run_ids=[str(run.id) for run in chunked]) == (len(chunked), [])

    for single, together in zip(alone, chunked, strict=True):
        single_fields, single_trades = stored(single.id)
        chunk_fields, chunk_trades = stored(together.id)
        assert chunk_fields == single_fields
        assert chunk_trades == single_trades and single_trades
    runs = BacktestRun.objects.filter(id__in=[run.id for run in chunked])
    assert {run.attempts for run in runs} == {1}
    assert all(run.started_at <= run.finished_at and run.timings["worker"] > 0 for run in runs)


def test_a_second_delivery_of_a_chunk_runs_nothing_twice(alice):
    runs = submit_all(alice, sweep_bodies()[:3])
    ids = [str(run.id) for run in runs]
    chunks.backtest_execute_chunk(run_ids=ids)
    counts = {run.id: Trade.objects.filter(run=run).count() for run in runs}

    assert chunks.backtest_execute_chunk(run_ids=ids) == (0, [])

    assert {run.id: Trade.objects.filter(run=run).count() for run in runs} == counts
    assert set(BacktestRun.objects.filter(id__in=ids).values_list("status", "attempts")) == {(RunStatus.SUCCEEDED, 1)}


def test_a_run_cancelled_while_the_chunk_works_is_not_stored(alice, monkeypatch):
    first, second, third = submit_all(alice, sweep_bodies()[:3])
    real = services.run_engine

    def cancel_the_second(*args, **kwargs):  # while the first computes
        if BacktestRun.objects.get(id=second.id).status == RunStatus.RUNNING:
            services.backtest_cancel(run=BacktestRun.objects.get(id=second.id))
        return real(*args, **kwargs)

    monkeypatch.setattr(chunks, "run_engine", cancel_the_second)
    with override_settings(QM_CANCEL_CHECK_INTERVAL=0):
        chunks.backtest_execute_chunk(run_ids=[str(first.id), str(second.id), str(third.id)])

    assert BacktestRun.objects.get(id=second.id).status == RunStatus.CANCELLED
    assert not Trade.objects.filter(run_id=second.id).exists()
    for run in (first, third):
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED and Trade.objects.filter(run=run).count() == run.trade_count


def test_a_run_that_fails_fails_alone(alice, monkeypatch):
    runs = submit_all(alice, sweep_bodies()[:3])
    the_second_run_raises(monkeypatch, ZeroDivisionError("boom"))
    chunks.backtest_execute_chunk(run_ids=[str(run.id) for run in runs])

    statuses = [BacktestRun.objects.values_list("status", "error_code").get(id=run.id) for run in runs]
    assert statuses == [(RunStatus.SUCCEEDED, ""), (RunStatus.FAILED, "ENGINE_ERROR"), (RunStatus.SUCCEEDED, "")]
    assert not Trade.objects.filter(run_id=runs[1].id).exists()


def test_the_soft_time_limit_fails_the_run_it_stops_and_requeues_the_rest(alice, monkeypatch):
    runs = submit_all(alice, sweep_bodies()[:3])
    the_second_run_raises(monkeypatch, SoftTimeLimitExceeded())
    chunks.backtest_execute_chunk(run_ids=[str(run.id) for run in runs])

    first, second, third = (BacktestRun.objects.get(id=run.id) for run in runs)
    assert first.status == RunStatus.SUCCEEDED
    assert (second.status, second.error_code) == (RunStatus.FAILED, "TIMEOUT")
    # back in the queue, and sent again by the dispatcher when the chunk's results were stored
    assert (third.status, third.lease_token, third.attempts) == (RunStatus.QUEUED, "", 1)
    assert third.dispatched_at > first.finished_at


def test_a_chunk_takes_over_runs_whose_worker_died_and_returns_those_still_held(alice):
    dead, alive, waiting = submit_all(alice, sweep_bodies()[:3])
    long_ago = timezone.now() - timezone.timedelta(seconds=3600)
    BacktestRun.objects.filter(id=dead.id).update(
        status=RunStatus.RUNNING, lease_token="dead", heartbeat_at=long_ago, attempts=1
    )
    BacktestRun.objects.filter(id=alive.id).update(
        status=RunStatus.RUNNING, lease_token="alive", heartbeat_at=timezone.now(), attempts=1
    )

    claimed, busy = chunks.backtest_execute_chunk(run_ids=[str(dead.id), str(alive.id), str(waiting.id)])

    assert (claimed, busy) == (2, [str(alive.id)])
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == (RunStatus.SUCCEEDED, 2)
    assert Trade.objects.filter(run=dead).count() == dead.trade_count
    assert BacktestRun.objects.get(id=waiting.id).status == RunStatus.SUCCEEDED
    assert BacktestRun.objects.values_list("status", "lease_token").get(id=alive.id) == (RunStatus.RUNNING, "alive")


def test_a_run_with_a_pdf_takes_the_single_run_path_inside_the_chunk(alice, monkeypatch):
    runs = submit_all(alice, sweep_bodies()[:2])
    printed = []
    monkeypatch.setattr(services, "backtest_finish_report", lambda run_id, clock=None: printed.append(run_id))
    with override_settings(QM_RENDER_PDF=True, QM_REPORT_IN_RUN_TASK=True):
        chunks.backtest_execute_chunk(run_ids=[str(run.id) for run in runs])

    assert printed == [run.id for run in runs]
    assert set(BacktestRun.objects.filter(id__in=[r.id for r in runs]).values_list("stage", flat=True)) == {
        "rendering_report"
    }


def test_strategies_on_the_same_bars_share_their_modules_and_get_the_same_results(monkeypatch):
    bars = SyntheticProvider().download(
        "EURUSD", "1h", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)
    )
    specs = [build_strategy(body) for body in sweep_bodies()[:5]]  # one RSI period: two levels, three targets
    alone = [run_backtest(bars, spec) for spec in specs]
    computed = []
    real = BaseModule.calculate_arrays
    monkeypatch.setattr(
        BaseModule, "calculate_arrays", lambda *a, **k: computed.append(type(a[0]).module_id) or real(*a, **k)
    )
    operands: dict = {}

    shared = [run_backtest(bars, spec, operands=operands) for spec in specs]

    assert computed.count("rsi") == 1  # RSI(14) once for the five (sizing is each run's own)
    assert all(not values.flags.writeable for arrays in operands.values() for values in arrays.values())
    for one, other in zip(alone, shared, strict=True):
        assert one.metrics == other.metrics and one.trades.equals(other.trades) and one.equity.equals(other.equity)


def test_the_garbage_collector_is_off_while_a_chunk_computes_and_back_on_after(alice, monkeypatch):
    runs = submit_all(alice, sweep_bodies()[:3])
    seen, real = [], services.run_engine

    def engine(*args, **kwargs):
        seen.append(gc.isenabled())
        if len(seen) == 2:
            raise ZeroDivisionError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(chunks, "run_engine", engine)
    assert gc.isenabled()
    chunks.backtest_execute_chunk(run_ids=[str(run.id) for run in runs])

    assert seen == [False, False, False] and gc.isenabled()
    assert [BacktestRun.objects.get(id=run.id).status for run in runs] == [
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.SUCCEEDED,
    ]


def test_a_chunks_trades_are_written_as_bulk_create_writes_them(alice):
    from django.db import transaction

    one, other = submit_all(alice, sweep_bodies()[:2])
    values = [
        dict(
            seq=1,
            market="EUR\tUSD\\n\n,\"'",  # what COPY's text format escapes
            direction="Long",
            entry_time=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            entry_price=0.1 + 0.2,
            exit_time=datetime(2024, 1, 3, tzinfo=UTC),
            exit_price=1e-300,
            size=123456789.123456789,
            pnl=-0.0,
            pnl_pct=float("nan"),
            exit_reason="take_profit",
            bars_held=7,
            fees=5e-324,
            r_multiple=None,
            mae=float("inf"),
            mfe=1.7976931348623157e308,
            requested_size=2.5,
        ),
        dict(
            seq=2,
            direction="Short",
            entry_time=datetime(2024, 2, 1, tzinfo=UTC),
            entry_price=1.0845,
            exit_time=datetime(2024, 2, 2, tzinfo=UTC),
            exit_price=1.0801,
            size=1000.0,
            pnl=4.4,
            pnl_pct=0.405,
            exit_reason="stop_loss",
            bars_held=96,
            r_multiple=-1.0,
            initial_stop=1.09,
            risk=5.5,
        ),
    ]

    with transaction.atomic():
        Trade.objects.bulk_create([Trade(run_id=one.id, **row) for row in values])
        chunks._insert_trades([Trade(run_id=other.id, **row) for row in values])

    def written(run):
        return [repr(row) for row in Trade.objects.filter(run=run).order_by("seq").values_list(*TRADE_FIELDS)]

    assert written(other) == written(one) and len(written(one)) == 2


def test_a_chunks_runs_over_one_window_load_and_align_their_benchmark_once(alice, monkeypatch):
    """Runs of one data window asking for the same benchmark share its closes as of their bars
    (loaded once, aligned once); another benchmark or another window is loaded on its own."""
    loads, aligned = [], []
    real_load, real_closes_at = services.market_data_load_closes, services.bm.closes_at
    monkeypatch.setattr(services, "market_data_load_closes", lambda **kw: loads.append(kw) or real_load(**kw))
    monkeypatch.setattr(services.bm, "closes_at", lambda *a: aligned.append(1) or real_closes_at(*a))
    bodies = [{**body, "benchmark": "spx500"} for body in sweep_bodies()]  # the last one has a warm-up
    runs = submit_all(alice, mixed_benchmarks(sweep_bodies()[:4]) + bodies[-2:])

    chunks.backtest_execute_chunk(run_ids=[str(run.id) for run in runs])

    assert len(loads) == 2  # SPX500 over the first five runs' window, and over the warm-up run's
    assert len(aligned) == 2 * 3  # closes_at twice for each: own market and SPX500 there, SPX500 here
    for run in BacktestRun.objects.filter(id__in=[run.id for run in runs]):
        assert run.status == RunStatus.SUCCEEDED and run.metrics["benchmark_days"] > 0
