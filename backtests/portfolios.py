"""A portfolio run in the worker: load every market of the basket, run the portfolio engine.
Called by ``services._execute_claimed`` (which owns the run's status); no writes here."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from backtests.engine import BacktestResult
from backtests.engine.portfolio import run_portfolio
from backtests.engine.strategy import StrategySpec
from backtests.strategies.portfolio import on_missing, portfolio_markets, portfolio_rules
from marketdata.manager import LoadedData
from marketdata.progress import reporting as data_progress
from marketdata.services import market_data_load
from qm_platform.errors import CodedError

logger = logging.getLogger(__name__)
ProgressFn = Callable[[str, int, int], None]
# data problems that ``onMissing: skip`` tolerates for a market; anything else fails the run
MISSING_CODES = ("DATA_UNAVAILABLE", "INSUFFICIENT_DATA", "DATA_RANGE_UNAVAILABLE", "INVALID_DATA")


def portfolio_execute(*, run, spec: StrategySpec, progress, annualisation) -> tuple[BacktestResult, LoadedData]:
    """Load the basket (stage ``loading_data:<SYMBOL>`` per market, reported while the market's
    data is generated or downloaded too; each report doubles as the cancellation check) and run
    it. A market without data for the window fails the run naming it, or with
    ``portfolio.onMissing: "skip"`` is left out and named in the warnings. Returns
    the result and the first market's data (the report's price charts and default benchmark),
    with every market's warnings."""
    markets = portfolio_markets(run.request)
    rules = portfolio_rules(run.request, markets)
    skip = on_missing(run.request) == "skip"
    datas: dict[str, pd.DataFrame] = {}
    warnings: list[str] = []
    first: LoadedData | None = None
    n = len(markets)
    for i, symbol in enumerate(markets):
        stage = f"loading_data:{symbol}"
        progress.write(stage, int(10 * i / n))
        try:
            with data_progress(lambda done, total, i=i, stage=stage: progress(stage, i * total + done, n * total)):
                loaded = market_data_load(run=run, symbol=symbol)
        except CodedError as exc:
            if not skip or exc.code not in MISSING_CODES:
                raise CodedError(
                    exc.code, f"{symbol}: {exc.message}", {"market": symbol, **(exc.details or {})}
                ) from exc
            warnings.append(f"Left {symbol} out of the portfolio: {exc.message}")
            continue
        datas[symbol] = loaded.frame
        warnings += [f"{symbol}: {w}" for w in loaded.warnings]
        first = first or loaded
    if first is None:
        raise CodedError("DATA_UNAVAILABLE", "no market of the portfolio has data for the window", {"markets": markets})
    if len(datas) < len(markets) and rules.weights:  # the left-out markets' weights are shared out
        total = sum(rules.weights[m] for m in datas)
        if total <= 0:
            left_out = [m for m in markets if m not in datas]
            raise CodedError(
                "DATA_UNAVAILABLE",
                f"the markets with data for the window ({', '.join(datas)}) all have weight 0; "
                f"without data: {', '.join(left_out)}",
                {"markets": list(datas), "missing": left_out},
            )
        rules = type(rules)(**{**rules.__dict__, "weights": {m: rules.weights[m] / total for m in datas}})
    result = run_portfolio(
        datas,
        spec,
        rules,
        on_progress=progress,
        trade_from=pd.Timestamp(run.data_start) if run.warmup_start else None,
        annualisation=annualisation,
    )
    loaded = LoadedData(first.frame, first.source, first.from_cache, warnings, first.quality)
    return result, loaded
