"""Reads of the strategy library. Every strategy belongs to its owner: another user's is None
here and 404 in the API, whatever route names it."""

from __future__ import annotations

from django.db.models import Count, Max, QuerySet

from backtests.library.checks import markets_of
from backtests.models import BacktestRun, Strategy, StrategyVersion

# The figures a strategy's history shows for each run (keys of BacktestRun.metrics).
KEY_METRICS = ("net_return_pct", "sharpe", "max_drawdown_pct", "win_rate", "profit_factor", "trade_count")


def strategy_list_for_user(*, user, name: str = "", tag: str = "", market: str = "") -> QuerySet[Strategy]:
    """The user's strategies, last changed first, with how many runs each has and when the last
    began; narrowed by a name fragment, a tag (exact) and a market."""
    strategies = Strategy.objects.filter(owner=user).annotate(
        run_count=Count("runs", distinct=True), last_run_at=Max("runs__created_at")
    )
    if name:
        strategies = strategies.filter(name__icontains=name)
    if tag or market:
        # Tags and a portfolio's markets are JSON lists, which SQLite cannot search by element:
        # the user's strategies are matched here (a user has hundreds at most).
        wanted = market.upper()
        rows = Strategy.objects.filter(owner=user).values_list("id", "tags", "definition")
        strategies = strategies.filter(
            id__in=[
                pk
                for pk, tags, body in rows
                if (not tag or tag in (tags or [])) and (not wanted or wanted in markets_of(body or {}))
            ]
        )
    return strategies.order_by("-updated_at", "-id")


def strategy_get_for_user(*, user, strategy_id) -> Strategy | None:
    if not str(strategy_id).isdigit():
        return None
    return Strategy.objects.filter(owner_id=getattr(user, "pk", None), id=int(strategy_id)).first()


def strategy_versions(*, strategy: Strategy) -> QuerySet[StrategyVersion]:
    return StrategyVersion.objects.filter(strategy=strategy).order_by("number")


def strategy_version_get(*, strategy: Strategy, number) -> StrategyVersion | None:
    if not str(number).isdigit():
        return None
    return StrategyVersion.objects.filter(strategy=strategy, number=int(number)).first()


def strategy_runs(*, strategy: Strategy) -> QuerySet[BacktestRun]:
    """The strategy's runs (its own and its batches'), newest first, without their large curves."""
    return (
        BacktestRun.objects.filter(owner_id=strategy.owner_id, strategy=strategy)
        .order_by("-created_at")
        .only(
            "id",
            "status",
            "strategy_version",
            "market",
            "timeframe",
            "direction",
            "created_at",
            "finished_at",
            "metrics",
            "trade_count",
            "batch_id",
            "cached",
        )
    )


def key_metrics(metrics: dict | None) -> dict:
    """The headline figures of a run's stored metrics (absent ones are None)."""
    metrics = metrics or {}
    return {name: metrics.get(name) for name in KEY_METRICS}


def strategy_metrics_by_version(*, strategy: Strategy) -> list[dict]:
    """Per version: how many runs succeeded and their mean Sharpe and net profit (the 'Sharpe by
    version' chart of the strategy page), computed from the stored metrics."""
    rows: dict[int, list[dict]] = {}
    for version, metrics in (
        strategy_runs(strategy=strategy).filter(status="SUCCEEDED").values_list("strategy_version", "metrics")
    ):
        if version is not None:
            rows.setdefault(version, []).append(metrics or {})

    def mean(values: list) -> float | None:
        finite = [float(v) for v in values if isinstance(v, int | float) and v == v and abs(v) != float("inf")]
        return sum(finite) / len(finite) if finite else None

    return [
        {
            "version": version,
            "runs": len(items),
            "mean_sharpe": mean([m.get("sharpe") for m in items]),
            "mean_net_return_pct": mean([m.get("net_return_pct") for m in items]),
        }
        for version, items in sorted(rows.items())
    ]


def strategy_batches(*, strategy: Strategy):
    """The batches that swept the strategy, newest first (the relation batches.Batch.strategy:
    batches sit above this app, so they are reached by the relation, never imported)."""
    return strategy.batches.filter(owner_id=strategy.owner_id).order_by("-created_at").defer("definition", "windows")


def strategy_schedules(*, strategy: Strategy):
    """The schedules whose definition names the strategy (batches.Schedule.strategy)."""
    return strategy.schedules.filter(owner_id=strategy.owner_id).order_by("name")
