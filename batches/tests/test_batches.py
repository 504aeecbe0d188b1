"""Batches without a worker: grid expansion and validation, limits, sampling, the summary
(best run, constraints, objectives, DSR), failures, cache hits, exactly-once finalisation,
cancel, walk-forward windows and schedules' drift. Runs are executed in-process with
``backtest_execute``; the chord callback is stood in for by ``batch_advance``."""

import math
from types import SimpleNamespace

import pandas as pd
import pytest
from celery import current_app
from django.test import override_settings

from backtests import services as run_services
from backtests.models import BacktestRun, RunStatus, Trade
from backtests.tests.factories import v4_body
from batches.grid import GridError, build_grid, parse_path
from batches.models import Batch, BatchLimit, BatchStatus
from batches.objective import parse_objective, scores
from batches.services import lifecycle, schedules
from batches.services.plan import batch_plan
from batches.stats import deflated_sharpe, expected_max_sharpe
from batches.walk_forward import build_windows, stitch
from plans.models import Plan, UserPlan
from qm_platform.errors import CodedError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_pdf")]
PERIOD = "decisionBlocks[0].subConfirmations[0].config.period"
LEVEL = "decisionBlocks[0].subConfirmations[0].config.value"
TP = "exit.takeProfit"
SHORT = dict(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-04-01T00:00:00Z")


@pytest.fixture
def no_pdf():
    with override_settings(QM_RENDER_PDF=False, QM_BATCH_RENDER_PDF=False):
        yield


def create(user, **definition):
    definition.setdefault("strategy", v4_body(**SHORT))
    return lifecycle.batch_create(user=user, definition=definition)


def run_all(batch) -> str:
    """What the workers and the chord callback do: run every queued run, then advance."""
    state = None
    for _ in range(3):  # walk-forward: in-sample, then out-of-sample
        for run_id in BacktestRun.objects.filter(batch=batch, status=RunStatus.QUEUED).values_list("id", flat=True):
            run_services.backtest_execute(run_id=run_id)
        state = lifecycle.batch_advance(batch_id=batch.id)
        if state in (BatchStatus.SUCCEEDED, BatchStatus.FAILED):
            break
    batch.refresh_from_db()
    return state


def code_of(excinfo) -> str:
    return excinfo.value.code


# ---- grid (pure) ------------------------------------------------------------------------------


def test_paths_parse_into_keys_and_indices():
    assert parse_path(PERIOD) == ["decisionBlocks", 0, "subConfirmations", 0, "config", "period"]
    with pytest.raises(GridError):
        parse_path("decisionBlocks[x].period")


def test_combinations_are_numbered_last_dimension_fastest_and_samples_are_seeded():
    grid = build_grid(v4_body(), {PERIOD: [7, 14, 21], TP: [1.5, 2, 3]}, ["XAUUSD", "EURUSD"])
    assert grid.size == 18
    assert grid.combination(0) == {PERIOD: 7, TP: 1.5, "market": "XAUUSD"}
    assert grid.combination(1) == {PERIOD: 7, TP: 1.5, "market": "EURUSD"}
    assert grid.combination(17) == {PERIOD: 21, TP: 3, "market": "EURUSD"}
    sample = grid.indices({"n": 5, "seed": 3})
    assert sample == grid.indices({"n": 5, "seed": 3}) and len(set(sample)) == 5
    assert sample != grid.indices({"n": 5, "seed": 4})
    body = grid.apply(v4_body(), grid.combination(17))
    assert body["decisionBlocks"][0]["subConfirmations"][0]["config"]["period"] == 21
    assert body["marketContext"]["market"] == "EURUSD" and body["exit"]["takeProfit"] == 3


def test_duplicate_values_are_dropped_so_identical_combinations_run_once():
    grid = build_grid(v4_body(), {PERIOD: [14, 14, 21]})
    assert grid.size == 2


# ---- validation -------------------------------------------------------------------------------


def test_every_grid_path_is_checked_up_front_with_suggestions(alice):
    with pytest.raises(CodedError) as excinfo:
        create(alice, grid={"decisionBlocks[0].subConfirmations[0].config.peroid": [7, 14]})
    assert code_of(excinfo) == "INVALID_GRID_PATH"
    assert "period" in excinfo.value.details["suggestions"]
    with pytest.raises(CodedError) as excinfo:
        create(alice, grid={"decisionBlocks[3].label": ["x"]})
    assert "no index 3" in excinfo.value.message
    assert not Batch.objects.exists() and not BacktestRun.objects.exists()


def test_a_module_parameter_left_at_its_default_can_be_swept(alice):
    body = v4_body(**SHORT)
    del body["decisionBlocks"][0]["subConfirmations"][0]["config"]["period"]
    batch = create(alice, strategy=body, grid={PERIOD: [7, 21]})
    assert batch.runs.count() == 2


def test_an_invalid_value_in_any_combination_creates_nothing(alice):
    with pytest.raises(CodedError) as excinfo:
        create(alice, grid={TP: [2.0, -5]})
    assert excinfo.value.details["combination"] == {TP: -5}
    assert not Batch.objects.exists() and not BacktestRun.objects.exists()


def test_a_grid_over_the_limit_is_refused_unless_sampled_or_the_users_limit_allows_it(alice):
    grid = {PERIOD: list(range(2, 202)), TP: [round(1 + i / 100, 2) for i in range(60)]}  # 12,000
    with pytest.raises(CodedError) as excinfo:
        batch_plan(user=alice, definition={"strategy": v4_body(), "grid": grid})
    assert code_of(excinfo) == "GRID_TOO_LARGE"
    assert excinfo.value.details == {"combinations": 12_000, "runs": 12_000, "limit": 10_000}
    plan = batch_plan(user=alice, definition={"strategy": v4_body(), "grid": grid, "sample": {"n": 50, "seed": 1}})
    assert plan.planned_runs == 50
    BatchLimit.objects.create(user=alice, max_runs=20_000)
    UserPlan.objects.create(user=alice, plan=Plan.objects.get(slug="elite"))  # 50,000 runs a day
    assert batch_plan(user=alice, definition={"strategy": v4_body(), "grid": grid}).planned_runs == 12_000


def test_a_template_with_overrides_is_swept_and_an_unknown_one_refused(alice):
    from backtests.models import StrategyTemplate

    StrategyTemplate.objects.update_or_create(
        id="batch_test_rsi", defaults={"name": "RSI (batch test)", "kind": "v4", "description": "-", "body": v4_body()}
    )
    batch = lifecycle.batch_create(
        user=alice,
        definition={
            "template": "batch_test_rsi",
            "overrides": {"marketContext": {"endDate": "2024-04-01T00:00:00Z"}},
            "grid": {PERIOD: [7, 21]},
        },
    )
    runs = list(batch.runs.all())
    assert len(runs) == 2 and {r.data_end.month for r in runs} == {4}
    assert {r.request["decisionBlocks"][0]["subConfirmations"][0]["config"]["period"] for r in runs} == {7, 21}
    with pytest.raises(CodedError) as excinfo:
        batch_plan(user=alice, definition={"template": "no_such_template"})
    assert code_of(excinfo) == "TEMPLATE_NOT_FOUND"


# ---- running, summary, objectives ---------------------------------------------------------------


def test_batch_runs_are_linked_and_handed_to_the_dispatcher_together(
    alice, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(lifecycle, "batch_dispatch", lambda *, batch_id, run_ids: sent.append(list(run_ids)))
    monkeypatch.setattr(run_services, "backtest_dispatch", lambda **kw: pytest.fail("single-run dispatch"))
    with django_capture_on_commit_callbacks(execute=True):
        batch = create(alice, grid={PERIOD: [7, 14, 21], TP: [1.5, 2.0]}, markets=["XAUUSD", "EURUSD"])
    runs = list(batch.runs.all())
    assert len(runs) == batch.planned_runs == 12
    assert len(sent) == 1 and sorted(sent[0]) == sorted(r.id for r in runs)
    assert all(r.status == RunStatus.QUEUED and r.dispatched_at is None for r in runs)  # sent as slots free
    assert {r.market for r in runs} == {"XAUUSD", "EURUSD"}
    assert {r.batch_params["params"][PERIOD] for r in runs} == {7, 14, 21}


def test_finished_batch_has_the_best_run_by_objective_dsr_and_sortable_results(alice):
    batch = create(alice, grid={PERIOD: [7, 14, 21], TP: [1.5, 3.0]})
    assert run_all(batch) == BatchStatus.SUCCEEDED
    summary = batch.summary
    from batches import selectors

    rows = selectors.batch_scored_rows(batch=batch)
    best_sharpe = max(r["metrics"]["sharpe"] for r in rows if r["metrics"].get("sharpe") is not None)
    assert summary["best"]["metrics"]["sharpe"] == best_sharpe
    assert summary["runs"] == {"total": 6, "cached": 0, "SUCCEEDED": 6}
    dsr = summary["dsr"]
    assert dsr["trials"] == 6 and 0 <= dsr["dsr"] <= 1
    assert dsr["best_sharpe_annualised"] == best_sharpe
    assert summary["objective_distribution"]["count"] == 6
    by_trades = selectors.sort_rows(rows, "trade_count", descending=False)
    counts = [r["metrics"]["trade_count"] for r in by_trades]
    assert counts == sorted(counts)


def test_constraints_and_a_custom_weighted_objective_pick_the_best(alice):
    weights = {"win_rate": 1.0, "max_drawdown_pct": -2.0}
    batch = create(
        alice, grid={PERIOD: [7, 14, 21], TP: [1.5, 3.0]}, objective={"weights": weights}, constraints={"min_trades": 5}
    )
    run_all(batch)
    from batches import selectors

    rows = selectors.batch_scored_rows(batch=batch)
    expected = max(
        (r for r in rows if r["metrics"]["trade_count"] >= 5),
        key=lambda r: r["metrics"]["win_rate"] - 2 * r["metrics"]["max_drawdown_pct"],
    )
    assert batch.summary["best"]["run_id"] == expected["run_id"]
    impossible = create(alice, grid={PERIOD: [7, 14]}, constraints={"min_trades": 100_000})
    assert run_all(impossible) == BatchStatus.SUCCEEDED
    assert impossible.summary["best"] is None and impossible.summary["eligible_runs"] == 0


def test_a_failed_run_is_listed_and_does_not_fail_the_batch(alice, monkeypatch):
    batch = create(alice, grid={PERIOD: [7, 14, 21]})
    real = run_services.run_backtest
    victim = batch.runs.get(batch_params__params__contains={PERIOD: 14}).id

    def flaky(data, spec, on_progress=None, **kwargs):
        if BacktestRun.objects.filter(id=victim, status=RunStatus.RUNNING).exists():
            raise ZeroDivisionError("boom")
        return real(data, spec, on_progress=on_progress, **kwargs)

    monkeypatch.setattr(run_services, "run_backtest", flaky)
    assert run_all(batch) == BatchStatus.SUCCEEDED
    assert batch.summary["runs"]["FAILED"] == 1
    failed = batch.summary["failed_runs"][0]
    assert failed["run_id"] == str(victim) and failed["error"]["code"] == "ENGINE_ERROR"
    assert failed["params"] == {PERIOD: 14}


def test_only_the_last_run_of_a_grid_batch_to_end_sends_the_batch_on(
    alice, django_capture_on_commit_callbacks, monkeypatch
):
    """A grid batch moves on only when its last run ends: the runs that end while others are in
    flight send no batch_run_finished (a 1,000-run sweep sent 1,000, each a task and a row lock)."""
    sent = []
    monkeypatch.setattr(
        current_app,
        "send_task",
        lambda name, **options: sent.append((name, options.get("args"))) or SimpleNamespace(id="t"),
    )
    batch = create(alice, grid={TP: [1.5, 2, 3]})
    for run_id in BacktestRun.objects.filter(batch=batch).order_by("created_at").values_list("id", flat=True):
        with django_capture_on_commit_callbacks(execute=True):
            assert run_services.backtest_execute(run_id=run_id) == RunStatus.SUCCEEDED
    assert [args for name, args in sent if name == run_services.BATCH_RUN_FINISHED_TASK] == [[str(batch.id)]]
    assert lifecycle.batch_advance(batch_id=batch.id) == BatchStatus.SUCCEEDED


def test_the_summary_is_built_once_however_often_the_callback_arrives(alice, monkeypatch):
    batch = create(alice, grid={PERIOD: [7, 14]})
    for run_id in batch.runs.values_list("id", flat=True):
        run_services.backtest_execute(run_id=run_id)
    built = []
    real = lifecycle.batch_build_summary
    monkeypatch.setattr(lifecycle, "batch_build_summary", lambda **kw: built.append(1) or real(**kw))
    assert [lifecycle.batch_advance(batch_id=batch.id) for _ in range(3)] == [BatchStatus.SUCCEEDED] * 3
    assert len(built) == 1


def test_advance_waits_while_runs_are_in_flight(alice):
    batch = create(alice, grid={PERIOD: [7, 14]})
    assert lifecycle.batch_advance(batch_id=batch.id) == BatchStatus.RUNNING  # still queued
    first = batch.runs.first()
    BacktestRun.objects.filter(batch=batch).exclude(id=first.id).update(status=RunStatus.RUNNING)
    run_services.backtest_execute(run_id=first.id)
    assert lifecycle.batch_advance(batch_id=batch.id) == lifecycle.WAITING


def test_a_broker_outage_leaves_the_batch_runs_in_the_outbox(alice, monkeypatch):
    batch = create(alice, grid={PERIOD: [7, 14]})
    ids = list(batch.runs.values_list("id", flat=True))

    def broker_down(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(current_app, "send_task", broker_down)
    assert lifecycle.batch_dispatch(batch_id=batch.id, run_ids=ids) is False
    assert BacktestRun.objects.filter(id__in=ids, dispatched_at__isnull=True).count() == 2
    for run_id in ids:  # what the outbox's single-run dispatch leads to
        run_services.backtest_execute(run_id=run_id)
    assert lifecycle.batch_sweep() == 1
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUCCEEDED


def test_identical_batches_reuse_the_result_cache_and_still_finish(
    alice, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(lifecycle, "batch_dispatch", lambda *, batch_id, run_ids: sent.append(list(run_ids)))
    first = create(alice, grid={PERIOD: [7, 14]})
    run_all(first)
    with django_capture_on_commit_callbacks(execute=True):
        partly = create(alice, grid={PERIOD: [7, 14, 21]})
        cached = create(alice, grid={PERIOD: [7, 14]})
    assert partly.runs.filter(cached=True).count() == 2 and len(sent[0]) == 1
    assert cached.runs.filter(cached=True, status=RunStatus.SUCCEEDED).count() == 2 and sent[1] == []
    assert lifecycle.batch_advance(batch_id=cached.id) == BatchStatus.SUCCEEDED
    assert run_all(partly) == BatchStatus.SUCCEEDED
    assert partly.summary["runs"]["cached"] == 2 and partly.summary["runs"]["SUCCEEDED"] == 3


def test_cancel_cancels_queued_runs_and_a_final_batch_cannot_be_cancelled(alice):
    batch = create(alice, grid={PERIOD: [7, 14, 21]})
    run_services.backtest_execute(run_id=batch.runs.first().id)
    cancelled = lifecycle.batch_cancel(batch=batch)
    assert cancelled.status == BatchStatus.CANCELLED
    assert batch.runs.filter(status=RunStatus.CANCELLED).count() == 2
    assert cancelled.summary["runs"]["SUCCEEDED"] == 1
    assert lifecycle.batch_advance(batch_id=batch.id) == BatchStatus.CANCELLED
    with pytest.raises(CodedError) as excinfo:
        lifecycle.batch_cancel(batch=cancelled)
    assert excinfo.value.status_code == 409 and code_of(excinfo) == "INVALID_STATE"


def test_the_report_page_has_table_heatmap_distribution_and_best_equity(alice):
    from batches.services.report import batch_render_report_html

    batch = create(alice, grid={PERIOD: [7, 14, 21], TP: [1.5, 3.0]})
    run_all(batch)
    html = batch_render_report_html(batch=batch, for_pdf=True)
    assert "Heatmap" in html and "Deflated Sharpe Ratio" in html and "best run equity" in html
    assert html.count("<svg") >= 3 and html.count("<tr") >= 7


# ---- statistics (pure) ---------------------------------------------------------------------------


def test_deflated_sharpe_matches_the_papers_worked_example():
    # Bailey & López de Prado (2014), section 4: 100 trials, annualised SR 2.5 over 1,250 daily
    # observations, annualised variance of the trials' SRs 0.5, skew -3, kurtosis 10 → DSR ≈ 0.90.
    per_year = 250
    sr0 = expected_max_sharpe(100, 0.5 / per_year)
    assert sr0 == pytest.approx(0.1132, abs=5e-4)
    dsr = deflated_sharpe(2.5 / math.sqrt(per_year), 1250, -3.0, 10.0, 100, 0.5 / per_year)
    assert dsr == pytest.approx(0.9004, abs=2e-3)
    assert deflated_sharpe(0.1, 1, 0.0, 3.0, 10, 0.01) is None


def test_objective_scores_are_none_when_a_metric_is_missing():
    objective = parse_objective({"weights": {"sharpe": 1, "pvs": 0.1}})
    assert scores(objective, [{"sharpe": 1.0, "pvs": 50}, {"sharpe": 2.0, "pvs": None}]) == [6.0, None]
    assert parse_objective("net_return").weights == {"net_return_pct": 1.0}


# ---- walk-forward -----------------------------------------------------------------------------


def test_rolling_and_anchored_windows():
    rolling = build_windows("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", in_sample="6mo", out_of_sample="2mo")
    assert [(w.is_start.month, w.is_end.month, w.oos_end.month) for w in rolling] == [(1, 7, 9), (3, 9, 11), (5, 11, 1)]
    anchored = build_windows(
        "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", in_sample="6mo", out_of_sample="2mo", anchored=True
    )
    assert {w.is_start for w in anchored} == {pd.Timestamp("2024-01-01", tz="UTC")}
    assert all(w.oos_start == w.is_end for w in rolling + anchored)


def test_stitched_equity_compounds_window_after_window():
    trades, equity = stitch(
        [
            {
                "start": "2024-01-01T00:00:00Z",
                "initial_capital": 1000,
                "trades": [{"exit_time": pd.Timestamp("2024-01-05", tz="UTC"), "pnl": 100.0}],
            },
            {
                "start": "2024-02-01T00:00:00Z",
                "initial_capital": 1000,
                "trades": [{"exit_time": pd.Timestamp("2024-02-05", tz="UTC"), "pnl": 100.0}],
            },
        ],
        1000,
    )
    assert list(trades["pnl"]) == pytest.approx([100.0, 110.0])
    assert equity.iloc[-1] == pytest.approx(1210.0)


def test_walk_forward_out_of_sample_never_sees_the_data_its_parameters_were_chosen_on(alice):
    body = v4_body(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-09-01T00:00:00Z")
    batch = create(
        alice,
        mode="walk_forward",
        strategy=body,
        grid={PERIOD: [7, 14], TP: [1.5, 3.0]},
        walkForward={"inSample": "3mo", "outOfSample": "1mo", "step": "1mo"},
    )
    assert len(batch.windows) == 5 and batch.planned_runs == 5 * 4 + 5
    assert run_all(batch) == BatchStatus.SUCCEEDED
    runs = list(batch.runs.all())
    checked = 0
    for window in batch.windows:
        in_sample = [
            r for r in runs if r.batch_params["window"] == window["index"] and r.batch_params["phase"] == "in_sample"
        ]
        oos = [
            r
            for r in runs
            if r.batch_params["window"] == window["index"] and r.batch_params["phase"] == "out_of_sample"
        ]
        assert len(in_sample) == 4 and len(oos) == 1
        # data_start / data_end are the first and last bars the run actually read.
        last_seen = max(r.data_end for r in in_sample)
        assert oos[0].data_start > last_seen
        assert oos[0].data_start >= pd.Timestamp(window["is_end"])
        chosen = window["best"]
        assert oos[0].batch_params["params"] == chosen["params"]
        assert chosen["run_id"] in {str(r.id) for r in in_sample}
        checked += 1
    assert checked == 5
    wf = batch.summary["walk_forward"]
    assert [w["params"] for w in wf["windows"]] == [w["best"]["params"] for w in batch.windows]
    assert wf["oos_trade_count"] == sum(r.trade_count for r in runs if r.batch_params["phase"] == "out_of_sample")
    assert wf["oos_equity_curve"][0][0].startswith("2024-04-01")
    assert wf["oos_metrics"]["trade_count"] == wf["oos_trade_count"]
    assert "efficiency" in wf and wf["is_annualised_return_pct_mean"] is not None
    from batches.services.report import batch_render_report_html

    html = batch_render_report_html(batch=batch, for_pdf=True)
    assert "Walk-forward (rolling windows)" in html and "in sample (grid)" in html and "window 5" in html
    # The same analysis again is answered from the cache, out-of-sample runs included, in one step.
    again = create(
        alice,
        mode="walk_forward",
        strategy=body,
        grid={PERIOD: [7, 14], TP: [1.5, 3.0]},
        walkForward={"inSample": "3mo", "outOfSample": "1mo", "step": "1mo"},
    )
    assert lifecycle.batch_advance(batch_id=again.id) == BatchStatus.SUCCEEDED
    again.refresh_from_db()
    assert [w["params"] for w in again.summary["walk_forward"]["windows"]] == [w["params"] for w in wf["windows"]]


def test_walk_forward_windows_warm_up_before_their_window_but_trade_only_inside_it(alice):
    body = v4_body(
        marketContext__startDate="2024-01-01T00:00:00Z",
        marketContext__endDate="2024-07-01T00:00:00Z",
        marketContext__warmup="2wk",
    )
    batch = create(
        alice,
        mode="walk_forward",
        strategy=body,
        grid={PERIOD: [7, 14], TP: [1.5, 3.0]},
        walkForward={"inSample": "3mo", "outOfSample": "1mo", "step": "1mo"},
    )
    assert run_all(batch) == BatchStatus.SUCCEEDED
    for window in batch.windows:
        oos = BacktestRun.objects.get(id=window["oos_run_id"])
        oos_start = pd.Timestamp(window["oos_start"])
        assert oos.warmup_start == oos_start - pd.Timedelta(days=14)
        assert oos.data_start >= oos_start
        assert not Trade.objects.filter(run=oos, entry_time__lt=oos_start).exists()


# ---- schedules and drift -------------------------------------------------------------------------


def test_schedule_is_backed_by_a_periodic_task_and_each_firing_creates_a_batch(alice, monkeypatch):
    from django_celery_beat.models import PeriodicTask

    refreshed = []
    monkeypatch.setattr(schedules, "_refresh_data", lambda definition, body: refreshed.append(1) or [])
    schedule = schedules.schedule_create(
        user=alice,
        name="daily",
        definition={"strategy": v4_body(**SHORT), "grid": {PERIOD: [7, 14]}},
        cron="30 6 * * 1-5",
        timezone_name="Europe/London",
    )
    task = PeriodicTask.objects.get(id=schedule.periodic_task_id)
    assert task.task == "batches.tasks.fire_schedule" and task.enabled
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == ("30", "6", "Europe/London")
    schedules.schedule_update(schedule=schedule, interval_seconds=3600, enabled=False)
    task.refresh_from_db()
    assert task.crontab is None and task.interval.every == 3600 and not task.enabled
    assert schedules.schedule_fire(schedule_id=schedule.id) is None  # disabled
    schedules.schedule_update(schedule=schedule, enabled=True)
    batch = schedules.schedule_fire(schedule_id=schedule.id)
    assert batch.schedule == schedule and batch.runs.count() == 2 and refreshed == [1]
    schedules.schedule_delete(schedule=schedule)
    assert not PeriodicTask.objects.filter(id=task.id).exists()


def test_scheduled_batch_records_drift_against_the_previous_one(alice, monkeypatch):
    monkeypatch.setattr(schedules, "_refresh_data", lambda definition, body: [])
    schedule = schedules.schedule_create(
        user=alice, name="weekly", definition={"strategy": v4_body(**SHORT)}, interval_seconds=3600
    )
    first = schedules.schedule_fire(schedule_id=schedule.id)
    run_all(first)
    assert first.drift is None and not first.drift_alert
    # The strategy used to do far better: its previous best had a 90% win rate.
    summary = first.summary
    summary["best"]["metrics"]["win_rate"] = 90.0
    Batch.objects.filter(id=first.id).update(summary=summary)
    second = schedules.schedule_fire(schedule_id=schedule.id)
    run_all(second)
    drift = second.drift["metrics"]["win_rate"]
    assert second.drift["previous_batch"] == str(first.id)
    assert drift["previous"] == 90.0 and drift["change"] == pytest.approx(drift["current"] - 90.0)
    assert drift["alert"] and second.drift_alert
    assert not second.drift["metrics"]["sharpe"]["alert"]  # same data, same Sharpe


def test_invalid_schedules_are_refused(alice):
    definition = {"strategy": v4_body()}
    for kwargs, field in (
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": "0 6 * * *", "interval_seconds": 60}, "cron"),
        ({"interval_seconds": 5}, "interval_seconds"),
        ({"cron": "0 6 * * *", "timezone_name": "Mars/Olympus"}, "timezone"),
    ):
        with pytest.raises(CodedError) as excinfo:
            schedules.schedule_create(user=alice, name="x", definition=definition, **kwargs)
        assert excinfo.value.details["field"] == field


# ---- bad input and plan limits (security issue) ------------------------------------------------


@pytest.mark.parametrize(
    "objective",
    [
        {"weights": {"sharpe": 1e308, "max_drawdown_pct": -1e308}},
        {"weights": {"sharpe": 1e7}},
        {"weights": {"sharpe": float("inf")}},
    ],
)
def test_an_objective_that_could_overflow_is_refused(alice, objective):
    with pytest.raises(CodedError) as err:
        create(alice, grid={PERIOD: [7, 14]}, objective=objective)
    assert err.value.code == "INVALID_OBJECTIVE" and err.value.status_code == 400


def test_a_summary_never_holds_infinity(alice):
    from batches.services.summary import finite_json

    assert finite_json({"a": [1.0, float("inf")], "b": {"c": float("nan"), "d": "x"}}) == {
        "a": [1.0, None],
        "b": {"c": None, "d": "x"},
    }


def test_a_walk_forward_span_of_a_million_years_is_400(alice):
    with pytest.raises(CodedError) as err:
        create(
            alice,
            mode="walk_forward",
            grid={PERIOD: [7]},
            walkForward={"inSample": "1mo", "outOfSample": "999999y"},
        )
    assert err.value.code == "INVALID_WALK_FORWARD" and err.value.status_code == 400


@pytest.mark.parametrize("market", [".", "..", "../x"])
def test_a_market_that_is_a_path_is_refused(alice, market):
    with pytest.raises(CodedError) as err:
        create(alice, grid={PERIOD: [7]}, markets=[market])
    assert err.value.status_code == 400


def test_a_batch_beyond_the_plans_size_is_403_unless_an_admin_granted_more(alice):
    small = Plan.objects.get(slug="free")
    small.combinations_per_batch = 3
    small.save()
    UserPlan.objects.create(user=alice, plan=small)
    with pytest.raises(CodedError) as err:
        create(alice, grid={PERIOD: [7, 14], TP: [1.5, 2.0]})
    assert err.value.code == "PLAN_LIMIT" and err.value.details["limit"] == "combinations_per_batch"
    assert not BacktestRun.objects.exists()
    BatchLimit.objects.create(user=alice, max_runs=10)
    assert create(alice, grid={PERIOD: [7, 14], TP: [1.5, 2.0]}).runs.count() == 4


def test_a_batch_beyond_the_daily_run_quota_is_429(alice):
    plan = Plan.objects.get(slug="free")
    plan.runs_per_day = 3
    plan.save()
    UserPlan.objects.create(user=alice, plan=plan)
    with pytest.raises(CodedError) as err:
        create(alice, grid={PERIOD: [7, 14], TP: [1.5, 2.0]})
    assert err.value.code == "QUOTA_EXCEEDED" and err.value.status_code == 429


@pytest.mark.parametrize("cron", ["* * * * *", "*/5 * * * *"])
def test_a_schedule_more_often_than_the_plan_allows_is_403(alice, cron):
    with pytest.raises(CodedError) as err:
        schedules.schedule_create(
            user=alice, name="often", definition={"strategy": v4_body(**SHORT), "grid": {PERIOD: [7]}}, cron=cron
        )
    assert err.value.code == "PLAN_LIMIT" and err.value.details["limit"] == "schedule_min_interval_seconds"


def test_a_cron_on_a_day_of_the_month_is_read_in_crons_order(alice):
    schedule = schedules.schedule_create(
        user=alice,
        name="mid-month",
        definition={"strategy": v4_body(**SHORT), "grid": {PERIOD: [7]}},
        cron="0 6 15 * *",
    )
    assert schedule.cron == "0 6 15 * *"


def test_a_portfolio_strategy_sweeps_its_rules_and_walks_forward(alice):
    body = v4_body(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-05-01T00:00:00Z")
    body["marketContext"].pop("market")
    body["marketContext"]["markets"] = ["EURUSD", "XAUUSD", "BTCUSD"]
    body["portfolio"] = {"rankBy": {"module": "roc", "config": {"period": 10}}}
    grid = {"portfolio.maxOpenPositions": [1, 2], "portfolio.allocation": ["equal", "risk_parity"]}
    batch = create(alice, strategy=body, grid=grid)
    assert batch.planned_runs == 4
    assert run_all(batch) == BatchStatus.SUCCEEDED
    runs = list(batch.runs.all())
    assert {r.request["portfolio"]["maxOpenPositions"] for r in runs} == {1, 2}
    assert all(
        r.report_data["portfolio"]["max_open_positions"] <= r.request["portfolio"]["maxOpenPositions"] for r in runs
    )
    walk = create(
        alice,
        mode="walk_forward",
        strategy=body,
        grid={"portfolio.maxOpenPositions": [1, 3]},
        walkForward={"inSample": "2mo", "outOfSample": "1mo", "step": "1mo"},
    )
    assert run_all(walk) == BatchStatus.SUCCEEDED
    assert all(
        set(r.trades.values_list("market", flat=True)) <= {"EURUSD", "XAUUSD", "BTCUSD"} for r in walk.runs.all()
    )
    with pytest.raises(CodedError) as excinfo:
        create(alice, strategy=body, grid={"portfolio.maxOpen": [1, 2]})
    assert "maxOpenPositions" in str(excinfo.value.details)
