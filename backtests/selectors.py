"""Reads. Every run belongs to its owner: other users see nothing (404, not 403)."""

from __future__ import annotations

from collections import defaultdict
from functools import partial

import numpy as np
import pandas as pd
from django.db.models import Count, F, Max, Q, QuerySet
from django.db.models.functions import Coalesce

from accounts.privacy import ExportFile, ExportPart
from backtests.engine import benchmark as bm
from backtests.engine import montecarlo as mc
from backtests.engine.downsample import curve_points
from backtests.models import Artifact, BacktestRun, Strategy, StrategyVersion, Trade
from qm_platform import artifacts
from reports import analysis
from reports.render import ReportInputs


def backtest_list_for_user(*, user) -> QuerySet[BacktestRun]:
    """The user's runs, newest first; the large per-run curves are loaded only when read."""
    return BacktestRun.objects.filter(owner=user).order_by("-created_at").defer("equity_detail", "montecarlo")


def backtest_list_filtered(*, user, status: str = "", market: str = "", strategy: str = "") -> QuerySet[BacktestRun]:
    """The user's runs, narrowed by status, market and a strategy text (its name, the request's
    name or the readable strategy text)."""
    runs = backtest_list_for_user(user=user).select_related("strategy")
    if status:
        runs = runs.filter(status=status)
    if market:
        runs = runs.filter(market=market.upper())
    if strategy:
        runs = runs.filter(
            Q(strategy__name__icontains=strategy)
            | Q(metrics__strategy_text__icontains=strategy)
            | Q(request__strategyName__icontains=strategy)
        )
    return runs


def backtest_list_grouped(*, runs: QuerySet[BacktestRun]) -> QuerySet:
    """``runs`` as list entries, newest first: each run outside a batch is an entry of its own,
    the runs of one batch are one entry. Rows are ``{"key", "batch_runs", "latest", "runs"}``:
    ``key`` is the run's id, or the batch's id when ``batch_runs`` > 0. One grouped query, so
    it paginates in the database however many runs a batch holds."""
    return (
        runs.order_by()
        .values(key=Coalesce(F("batch_id"), F("id")))
        .annotate(batch_runs=Count("batch_id"), runs=Count("id"), latest=Max("created_at"))
        .order_by("-latest", "-key")
    )


def backtest_batch_groups(*, runs: QuerySet[BacktestRun], batch_ids) -> dict:
    """For the batch entries of a runs list: each batch's name, mode and status, and its
    ``runs`` by status, keyed by batch id (read through the run's foreign key)."""
    groups: dict = {}
    rows = (
        runs.filter(batch_id__in=batch_ids)
        .order_by()
        .values("batch_id", "batch__name", "batch__mode", "batch__status", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        group = groups.setdefault(
            row["batch_id"],
            {
                "id": row["batch_id"],
                "name": row["batch__name"],
                "mode": row["batch__mode"],
                "status": row["batch__status"],
                "counts": {},
            },
        )
        group["counts"][row["status"]] = row["n"]
    return groups


def backtest_get_for_user(*, user, run_id) -> BacktestRun | None:
    return BacktestRun.objects.filter(owner=user, id=run_id).first()


def trades_for_run(*, run: BacktestRun) -> QuerySet[Trade]:
    """A run's own trades (a cached run holds copies of its source's)."""
    return Trade.objects.filter(run_id=run.id).order_by("seq")


def report_inputs_for_run(*, run: BacktestRun) -> ReportInputs:
    """What the run's report shows besides the run row, from stored rows only (never market data):
    its trades in order and the price-derived data the worker stored (``report_data``). A cached
    run holds copies of both."""
    return ReportInputs(trades=list(trades_for_run(run=run)), extras=run.report_data)


def backtest_get_by_idempotency_key(*, user, key: str) -> BacktestRun | None:
    return BacktestRun.objects.filter(owner=user, idempotency_key=key).first()


def backtest_export_for_user(*, user) -> ExportPart:
    """The user's backtests for their data export (registered in accounts.privacy): strategies
    with every version, runs with their trades, and each run's PDF report as ``reports/<run id>.pdf``."""
    trades = defaultdict(list)
    for trade in Trade.objects.filter(run__owner=user).order_by("run_id", "seq").values():
        trades[trade["run_id"]].append(trade)
    runs = list(BacktestRun.objects.filter(owner=user).order_by("created_at").values())
    for run in runs:
        run["trades"] = trades.get(run["id"], [])
    files = [
        ExportFile(path=f"reports/{run_id}.pdf", open=partial(artifacts.open_for_reading, key))
        for run_id, key in Artifact.objects.filter(run__owner=user).values_list("run_id", "storage_key")
        if artifacts.exists(key)
    ]
    strategies = list(Strategy.objects.filter(owner=user).order_by("created_at").values())
    versions = defaultdict(list)
    for version in StrategyVersion.objects.filter(strategy__owner=user).order_by("strategy_id", "number").values():
        versions[version["strategy_id"]].append(version)
    for strategy in strategies:
        strategy["versions"] = versions.get(strategy["id"], [])
    return ExportPart(data={"strategies": strategies, "runs": runs}, files=files)


def backtest_montecarlo(*, run: BacktestRun, settings: mc.MonteCarloSettings) -> dict | None:
    """The run's Monte Carlo robustness with ``settings``: the worker's stored result when the
    settings are the defaults it used (one number, one source), else computed now from the stored
    trades the same way (``services.run_montecarlo``). None without trades."""
    stored = (run.montecarlo or {}).get(settings.method)
    if stored and stored.get("settings") == {**_settings_dict(settings), "trades": stored["settings"]["trades"]}:
        return stored
    pnl = np.fromiter(trades_for_run(run=run).values_list("pnl", flat=True), dtype=np.float64)
    capital = analysis.initial_capital(run.metrics, run.request)
    return mc.monte_carlo(mc.trade_returns_on_equity(pnl, capital), settings)


def _settings_dict(settings: mc.MonteCarloSettings) -> dict:
    return {"paths": settings.paths, "method": settings.method, "seed": settings.seed, "ruin_pct": settings.ruin_pct}


def backtest_equity(*, run: BacktestRun) -> dict:
    """The run's equity and drawdown as columns (``time`` ISO 8601 UTC, ``equity`` money,
    ``drawdown_pct`` percent below the running peak of the points, 0 or negative), from the stored
    curve: every bar up to ``services.EQUITY_DETAIL_POINTS`` bars, else thinned keeping each
    bucket's lowest and highest value and the max drawdown's peak and trough, so the series'
    deepest drawdown is the run's ``max_drawdown_pct``. Runs stored before the detailed curve was
    kept answer with the report's 600-point curve (``source`` says which)."""
    times, equity = curve_points(run.equity_detail or run.equity_curve)
    drawdown = analysis.drawdown_pct(pd.Series(equity, dtype=np.float64))
    return {
        "id": str(run.id),
        "source": "detail" if run.equity_detail else "report",
        "bars": run.bars,
        "points": len(times),
        "thinned": bool(run.bars and len(times) < run.bars),
        "initial_capital": analysis.initial_capital(run.metrics, run.request),
        "max_drawdown_pct": (run.metrics or {}).get("max_drawdown_pct"),
        "time": times,
        "equity": equity,
        "drawdown_pct": [round(float(v), 9) + 0.0 for v in drawdown.to_numpy()],
    }


BENCHMARK_KEYS = bm.FIGURES


def backtest_benchmark(*, run: BacktestRun) -> dict | None:
    """The run against its benchmark, from what the worker stored (never market data): its name,
    the figures of ``metrics`` (docs/metrics.md, "Benchmark"), the strategy's and the benchmark's
    equity at the stored curve's times (money; the benchmark is buy-and-hold of the initial
    capital) and the rolling 90-day Sharpe and beta. None for a run stored before benchmarks."""
    metrics = run.metrics or {}
    extras = run.report_data or {}
    if "beta" not in metrics:
        return None
    benchmark = dict(extras.get("benchmark") or [])
    points = run.equity_curve or []
    rolling = extras.get("rolling") or {"window_days": None, "time": [], "sharpe": [], "beta": []}
    return {
        "id": str(run.id),
        "benchmark": metrics.get("benchmark") or extras.get("benchmark_name"),
        "metrics": {key: metrics.get(key) for key in BENCHMARK_KEYS},
        "initial_capital": analysis.initial_capital(metrics, run.request),
        "time": [p[0] for p in points],
        "equity": [p[1] for p in points],
        "benchmark_equity": [benchmark.get(p[0]) for p in points],
        "rolling": rolling,
    }
