"""Service behaviour without a worker: claim, progress, failure, idempotent re-delivery."""

import pytest
from django.test import override_settings

from backtests import services
from backtests.models import BacktestRun, RunStatus, Trade

from .factories import v4_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_pdf")]


@pytest.fixture
def no_pdf():
    with override_settings(QM_RENDER_PDF=False):
        yield


def submit(user, **changes):
    return services.backtest_submit(user=user, body=v4_body(**changes))


def test_second_delivery_does_not_run_again_or_duplicate_trades(alice):
    run = submit(alice)
    assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    count = Trade.objects.filter(run=run).count()
    assert count > 0
    assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    assert Trade.objects.filter(run=run).count() == count
    assert BacktestRun.objects.get(id=run.id).attempts == 1


def test_engine_crash_fails_the_run_with_a_code(alice, monkeypatch):
    run = submit(alice)

    def explode(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(services, "run_backtest", explode)
    assert services.backtest_execute(run_id=run.id) == RunStatus.FAILED
    run.refresh_from_db()
    assert run.error_code == "ENGINE_ERROR" and "boom" in run.error_message
    assert run.finished_at is not None and run.stage == "failed"


def test_no_data_in_window_fails_with_insufficient_data(alice):
    # A weekend: metals do not trade, so the window holds no bars.
    run = submit(alice, marketContext__startDate="2024-06-01T00:00:00Z", marketContext__endDate="2024-06-02T12:00:00Z")
    assert services.backtest_execute(run_id=run.id) == RunStatus.FAILED
    run.refresh_from_db()
    assert run.error_code == "INSUFFICIENT_DATA"


def test_progress_is_throttled_and_cancellation_stops_the_run(alice, monkeypatch):
    run = submit(alice)
    writes = []
    real_write, real_load = services.ProgressWriter.write, services.market_data_load

    def spy(self, stage, pct):
        writes.append((stage, pct))
        return real_write(self, stage, pct)

    def load_then_cancel(**kwargs):
        loaded = real_load(**kwargs)
        BacktestRun.objects.filter(id=run.id).update(status=RunStatus.CANCELLED)  # the user cancels now
        return loaded

    monkeypatch.setattr(services.ProgressWriter, "write", spy)
    monkeypatch.setattr(services, "market_data_load", load_then_cancel)
    assert services.backtest_execute(run_id=run.id) == RunStatus.CANCELLED
    assert not Trade.objects.filter(run=run).exists()
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.metrics is None
    assert len(writes) <= 6
    assert [w[1] for w in writes] == sorted(w[1] for w in writes)


def test_same_request_same_data_gives_identical_results(alice):
    first, second = submit(alice), submit(alice)
    for run in (first, second):
        services.backtest_execute(run_id=run.id)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.metrics == second.metrics
    assert first.data_checksum == second.data_checksum != ""
    fields = ("entry_time", "entry_price", "exit_time", "exit_price", "size", "pnl")
    assert list(Trade.objects.filter(run=first).values_list(*fields)) == list(
        Trade.objects.filter(run=second).values_list(*fields)
    )


def test_the_worker_stores_what_the_report_takes_from_the_prices(alice):
    run = submit(alice)
    assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    run.refresh_from_db()
    data, capital = run.report_data, run.metrics["initial_capital"]
    assert data["has_prices"] is True
    assert [t for t, _ in data["benchmark"]] == [t for t, _ in run.equity_curve], "at the stored equity times"
    assert data["benchmark"][0][1] == capital
    assert (data["benchmark"][-1][1] / capital - 1) * 100 == pytest.approx(
        run.metrics["buy_and_hold_return_pct"], abs=1e-6
    ), "the line ends where the KPI says"
    titles = [w["title"] for w in data["trade_windows"]]
    assert titles[0].startswith("Best trade") and titles[1].startswith("Worst trade")


def test_with_a_warm_up_buy_and_hold_starts_with_the_measured_period(alice):
    run = submit(
        alice,
        marketContext__startDate="2024-03-01T00:00:00Z",
        marketContext__endDate="2024-05-01T00:00:00Z",
        marketContext__warmup="1mo",
    )
    assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    run.refresh_from_db()
    benchmark, capital = run.report_data["benchmark"], run.metrics["initial_capital"]
    assert run.warmup_start is not None and benchmark[0] == [run.equity_curve[0][0], capital]
    assert (benchmark[-1][1] / capital - 1) * 100 == pytest.approx(run.metrics["buy_and_hold_return_pct"], abs=1e-6)


def test_a_failure_preparing_the_price_charts_costs_the_charts_not_the_run(alice, monkeypatch):
    run = submit(alice)

    def explode(*args, **kwargs):
        raise ValueError("no windows today")

    monkeypatch.setattr(services, "report_extras", explode)
    assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.trade_count > 0 and run.report_data["has_prices"] is False
    assert "no windows today" in run.report_data["notes"][0]


def test_the_report_task_is_sent_by_name_to_the_reports_queue(monkeypatch):
    from celery import current_app

    from backtests.tasks import render_report_task

    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **options: sent.append((name, options)))
    assert services.report_dispatch(run_id="run-1")
    assert [(name, options["args"]) for name, options in sent] == [(render_report_task.name, ["run-1"])]
    assert current_app.amqp.router.route({}, render_report_task.name)["queue"].name == "reports"


def test_invalid_stored_request_fails_cleanly(alice):
    run = submit(alice)
    BacktestRun.objects.filter(id=run.id).update(
        request=v4_body(
            decisionBlocks=[{"subConfirmations": [{"moduleId": "nope", "config": {"operator": ">", "value": 1}}]}]
        )
    )
    assert services.backtest_execute(run_id=run.id) == RunStatus.FAILED
    assert BacktestRun.objects.get(id=run.id).error_code == "MODULE_NOT_FOUND"


# what a run stores as its results (a cached run: the same as its source)
CACHE_COPIED = (
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
    "status",
    "progress",
    "stage",
)
TRADE_FIELDS = [f.name for f in Trade._meta.concrete_fields if f.name not in ("id", "run")]


def results(run_id):
    run = BacktestRun.objects.get(id=run_id)
    trades = list(Trade.objects.filter(run_id=run_id).order_by("seq").values_list(*TRADE_FIELDS))
    return {name: getattr(run, name) for name in CACHE_COPIED}, trades


def test_a_cached_run_stores_exactly_its_sources_results_alone_or_in_a_batch(alice):
    bodies = [v4_body(decisionBlocks__0__subConfirmations__0__config__value=level) for level in (30, 40)]
    sources = [services.backtest_submit(user=alice, body=body) for body in bodies]
    for run in sources:
        assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    compiled = [services.request_compile(body, user=alice) for body in bodies]

    alone = services.backtest_submit(user=alice, body=bodies[0])
    batch = services.backtest_submit_many(
        user=alice, items=[(c, {"combination": i}) for i, c in enumerate(compiled)] * 2, batch_id=None
    )

    pairs = [(sources[0], alone)] + list(zip(sources * 2, batch, strict=True))
    for source, cached in pairs:
        cached = BacktestRun.objects.get(id=cached.id)
        assert cached.cached and cached.cache_source_id == source.id
        assert results(cached.id) == results(source.id) and results(source.id)[1]
        assert cached.started_at == cached.finished_at == cached.created_at
    assert alone.metrics == BacktestRun.objects.get(id=sources[0].id).metrics  # the returned run is loaded
    # the copies are the runs' own: deleting the source keeps them
    services.backtest_delete_runs(runs=BacktestRun.objects.filter(id=sources[0].id))
    assert Trade.objects.filter(run_id=alone.id).count() == alone.trade_count > 0
