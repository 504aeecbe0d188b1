"""The one request compiler: any accepted request body → what a run needs.

``request_compile(body, user=...)`` is called once per submission, by ``backtest_submit``,
whichever way the request came in (API, pages, templates, V5, batches, schedules). It
expands templates, V5 ICT configurations and sessions to the V4 body (``expand.py``), checks
its shape with the API's serializer, parses its meaning into the engine's ``StrategySpec``
(``parse.py``) and resolves the data window. Reads only (no ORM writes); every problem is a
:class:`~qm_platform.errors.CodedError` with the API's codes, raised before anything is saved.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.conf import settings

from backtests.engine import StrategySpec
from backtests.engine.portfolio import PortfolioRules
from marketdata.providers.synthetic import BASE_PRICES
from marketdata.timeframes import floor_time, period_to_timedelta, timeframe_seconds, utcnow
from qm_platform.errors import CodedError

from .expand import apply_template, expand_request
from .keys import check_request_keys
from .parse import build_strategy
from .portfolio import is_portfolio, portfolio_markets, portfolio_rules
from .saved import StrategyRef, saved_strategy_apply

DEFAULT_TEST_PERIOD = "2mo"


@dataclass(frozen=True)
class DataWindow:
    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    source: str  # "synthetic", "yahoo" or "dataset"
    dataset_id: int | None = None
    warmup_start: datetime | None = None  # data from here warms indicators up; trading starts at start
    markets: tuple[str, ...] = ()  # a portfolio's basket (symbol is its first market)

    @property
    def bars(self) -> int:
        """About how many bars the window holds, warm-up included (calendar time ÷ bar size)."""
        span = int((self.end - (self.warmup_start or self.start)).total_seconds() // timeframe_seconds(self.timeframe))
        return span * max(1, len(self.markets))  # a portfolio: every market's bars


@dataclass(frozen=True)
class CompiledRequest:
    """A checked submission: the canonical V4 ``body`` the run stores (and the result cache
    hashes), the engine's ``spec``, the data ``window``, ``warnings`` for the run and the saved
    strategy (and version) it came from, if it named one; a portfolio's ``portfolio`` rules."""

    body: dict
    spec: StrategySpec
    window: DataWindow
    warnings: tuple[str, ...] = ()
    strategy_ref: StrategyRef | None = None
    portfolio: PortfolioRules | None = None


def request_compile(raw: Any, *, user, now: datetime | None = None, instruments: dict | None = None) -> CompiledRequest:
    """Compile a request body for ``user`` (inline, a template with overrides, or a saved
    strategy's version with overrides). Raises CodedError (400; 404 NOT_FOUND for a saved
    strategy that is not the user's, DATASET_NOT_FOUND for a dataset they cannot see).
    ``instruments``: markets resolved so far (``instrument_resolve``'s answers by symbol), kept
    by a caller that compiles many requests at once (a batch's combinations: one query, not one
    a combination)."""
    from backtests.api.serializers import BacktestRequestSerializer
    from marketdata.selectors import dataset_get, instrument_resolve
    from qm_platform.api_errors import _first_problem

    raw, strategy_ref = saved_strategy_apply(raw, user=user)
    raw = apply_template(raw)
    warnings = check_request_keys(raw)
    expanded = expand_request(raw)
    serializer = BacktestRequestSerializer(data=expanded)
    if not serializer.is_valid():
        raise CodedError(
            "INVALID_REQUEST",
            "The request is invalid: " + _first_problem(serializer.errors),
            {"fields": serializer.errors},
        )
    body = serializer.body()
    if is_portfolio(body):  # a basket trades each market on the portfolio's one account
        _refuse_single_market_fields(body)
        spec = build_strategy(body)
    else:
        market = body["marketContext"]["market"]
        resolved = instruments.get(market) if instruments is not None else None
        if resolved is None:
            resolved = instrument_resolve(symbol=market)
            if instruments is not None:
                instruments[market] = resolved
        instrument, unknown = resolved
        spec = build_strategy(body, instrument=instrument)
        if unknown:
            warnings += (unknown,)
    window = data_window_from_request(body, now=now)
    rules = None
    if is_portfolio(body):
        window, rules = _portfolio_window(body, window)
    elif body.get("portfolio") is not None:
        raise CodedError(
            "INVALID_REQUEST",
            "portfolio needs marketContext.markets (the basket) instead of marketContext.market",
            details={"field": "portfolio"},
        )
    if window.source == "dataset" and dataset_get(dataset_id=window.dataset_id, user=user) is None:
        raise CodedError(
            "DATASET_NOT_FOUND",
            f"no dataset with id {window.dataset_id}",
            {"field": "marketContext.dataSource"},
        )
    if body.get("benchmark") is not None:
        body["benchmark"] = benchmark_from_request(body["benchmark"], window, user=user, now=now)
    else:
        body.pop("benchmark", None)
    return CompiledRequest(body, spec, window, warnings, strategy_ref, rules)


def _refuse_single_market_fields(body: dict) -> None:
    """A portfolio trades its shared cash without leverage, margin or financing, and has no finer
    bars to magnify: ``account`` and ``exit.intrabar`` would be ignored, so they are refused."""
    exit_rules = body.get("exit") or {}
    for field, given in (("account", body.get("account")), ("exit.intrabar", exit_rules.get("intrabar"))):
        if given:
            raise CodedError(
                "INVALID_REQUEST",
                f"{field} is for one market's run: a portfolio's cash is shared without leverage, margin, "
                "financing or the bar magnifier (docs/engine.md, Portfolios)",
                details={"field": field},
            )


def _portfolio_window(body: dict, window: DataWindow) -> tuple[DataWindow, PortfolioRules]:
    """A portfolio's basket and rules, checked: on the synthetic source every market must be one
    it knows (the close ones are suggested); a dataset holds one market, so it cannot serve one."""
    if window.source == "dataset":
        raise CodedError(
            "INVALID_REQUEST",
            "a portfolio runs on the 'synthetic' or 'yahoo' data source; a dataset holds one market",
            details={"field": "marketContext.dataSource"},
        )
    markets = portfolio_markets(body, known=BASE_PRICES if window.source == "synthetic" else None)
    rules = portfolio_rules(body, markets)
    return replace(window, symbol=markets[0], markets=markets), rules


def benchmark_from_request(raw: Any, window: DataWindow, *, user, now: datetime | None = None) -> dict:
    """The request's ``benchmark`` in its one stored form, ``{"market": "SPX500", "dataSource":
    "synthetic" | "yahoo" | <dataset id>}``, checked now so a bad one is a 400 and never reaches a
    worker. ``raw`` is a symbol (on the run's own source; a run on a dataset compares with the
    platform's default source) or that object; a dataset's market defaults to the dataset's.
    Unknown synthetic symbols and datasets the user cannot see are refused; a Yahoo symbol is
    checked against Yahoo's interval limits (it can only be found when the run loads it)."""
    from backtests.api.serializers import SYMBOL_PATTERN
    from marketdata.resample import can_resample
    from marketdata.selectors import dataset_get

    field = "benchmark"
    if isinstance(raw, str):
        raw = {"market": raw}
    if not isinstance(raw, dict) or set(raw) - {"market", "dataSource"}:
        raise CodedError(
            "INVALID_REQUEST",
            'benchmark must be a symbol or {"market": ..., "dataSource": ...}',
            details={"field": field},
        )
    default_source = window.source if window.source in ("synthetic", "yahoo") else settings.QM_DEFAULT_DATA_SOURCE
    source = raw.get("dataSource", default_source)
    if isinstance(source, str) and source.isdigit():
        source = int(source)
    market = raw.get("market")
    if isinstance(source, int) and not isinstance(source, bool):
        dataset = dataset_get(dataset_id=source, user=user)
        if dataset is None:
            raise CodedError("DATASET_NOT_FOUND", f"no dataset with id {source}", {"field": "benchmark.dataSource"})
        if market is not None and str(market).upper() != dataset.symbol:
            raise CodedError(
                "INVALID_REQUEST",
                f"dataset {source} holds {dataset.symbol}, not {str(market).upper()}",
                details={"field": "benchmark.market", "dataset_symbol": dataset.symbol},
            )
        if not can_resample(dataset.timeframe, window.timeframe):
            raise CodedError(
                "INVALID_REQUEST",
                f"dataset {source} holds {dataset.timeframe} bars; a {window.timeframe} run cannot compare with it",
                details={"field": "benchmark.dataSource", "dataset_timeframe": dataset.timeframe},
            )
        return {"market": dataset.symbol, "dataSource": source}
    if source not in ("synthetic", "yahoo"):
        raise CodedError(
            "INVALID_REQUEST",
            "benchmark.dataSource must be 'synthetic', 'yahoo' or a dataset id",
            details={"field": "benchmark.dataSource"},
        )
    if not isinstance(market, str) or not re.match(SYMBOL_PATTERN, market):
        raise CodedError("INVALID_REQUEST", "benchmark.market must be a symbol such as SPX500", {"field": field})
    market = market.upper()
    if source == "synthetic" and market not in BASE_PRICES:
        close = difflib.get_close_matches(market, list(BASE_PRICES), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(BASE_PRICES))}"
        raise CodedError(
            "INVALID_REQUEST",
            f"the synthetic data source has no market {market} to compare with: {hint}",
            details={"field": "benchmark.market", "suggestions": close},
        )
    if source == "yahoo":
        try:
            _check_yahoo_range(window.timeframe, window.warmup_start or window.start, window.end, now)
        except CodedError as exc:
            exc.details = {**exc.details, "field": "benchmark.dataSource"}
            raise
    return {"market": market, "dataSource": source}


def _check_synthetic_market(symbol: str) -> None:
    """A typo'd market (XAUSD) would run on invented prices that say nothing about any market:
    refuse it, naming the close ones. Yahoo and datasets name their own symbols."""
    if symbol in BASE_PRICES:
        return
    markets = sorted(BASE_PRICES)
    close = difflib.get_close_matches(symbol, markets, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; it knows {', '.join(markets)}."
    raise CodedError(
        "INVALID_REQUEST",
        f"{symbol} is not a market the synthetic data source knows{hint} For another symbol use "
        "dataSource 'yahoo' or an uploaded dataset.",
        {"field": "marketContext.market", "close_matches": close, "markets": markets},
    )


def _parse_time(raw, field: str) -> datetime:
    try:
        ts = pd.Timestamp(raw)
    except (ValueError, TypeError):
        raise CodedError(
            "INVALID_REQUEST", f"{field} is not a valid ISO 8601 time: {raw!r}", details={"field": field}
        ) from None
    if ts is pd.NaT:
        raise CodedError("INVALID_REQUEST", f"{field} is required", details={"field": field})
    if ts.tzinfo is None:
        raise CodedError(
            "INVALID_REQUEST", f"{field} needs a timezone (e.g. 2024-01-01T00:00:00Z)", details={"field": field}
        )
    return ts.tz_convert("UTC").to_pydatetime()


def data_window_from_request(body: dict, *, now: datetime | None = None) -> DataWindow:
    """The data a run needs: symbol, timeframe, [start, end) and source.

    ``dataSource`` is ``synthetic``, ``yahoo`` or a dataset id. The window is ``startDate``/
    ``endDate``, or ``testPeriod`` ending now (for a dataset: ending at the dataset's last bar).
    Yahoo requests are checked against Yahoo's interval limits here, before anything is queued
    (400 DATA_RANGE_UNAVAILABLE saying what is possible); a dataset must hold the market and a
    timeframe its bars can be aggregated to.
    """
    ctx = body["marketContext"]
    timeframe = ctx["timeframe"]
    raw_source = ctx.get("dataSource", settings.QM_DEFAULT_DATA_SOURCE)
    dataset_id = None
    if isinstance(raw_source, str) and raw_source.isdigit():
        raw_source = int(raw_source)
    if isinstance(raw_source, int) and not isinstance(raw_source, bool):
        source, dataset_id = "dataset", raw_source
    elif raw_source in ("synthetic", "yahoo"):
        source = raw_source
    else:
        raise CodedError(
            "INVALID_REQUEST",
            "marketContext.dataSource must be 'synthetic', 'yahoo' or a dataset id",
            details={"field": "marketContext.dataSource"},
        )
    market = ctx.get("market") or (ctx.get("markets") or ["?"])[0]
    dataset = _dataset_for_window(dataset_id, market, timeframe) if dataset_id is not None else None
    if ctx.get("startDate") or ctx.get("endDate"):
        start = _parse_time(ctx.get("startDate"), "marketContext.startDate")
        end = _parse_time(ctx.get("endDate"), "marketContext.endDate")
    else:
        period = ctx.get("testPeriod", DEFAULT_TEST_PERIOD)
        try:
            span = period_to_timedelta(period)
        except ValueError as exc:
            raise CodedError("INVALID_REQUEST", str(exc), details={"field": "marketContext.testPeriod"}) from None
        if dataset is not None:
            # A dataset's period ends at its last bar, not now: an upload from 2023 stays usable.
            end = pd.Timestamp(dataset.end).tz_convert("UTC").to_pydatetime() + timedelta(
                seconds=timeframe_seconds(dataset.timeframe)
            )
            end = floor_time(end + timedelta(seconds=timeframe_seconds(timeframe) - 1), timeframe)
        else:
            end = floor_time(now or utcnow(), timeframe)
        start = end - span
    if end <= start:
        raise CodedError(
            "INVALID_REQUEST",
            "marketContext.endDate must be after startDate",
            details={"field": "marketContext.endDate"},
        )
    warmup_start = None
    if ctx.get("warmup") not in (None, "", "0"):
        try:
            warmup_start = start - period_to_timedelta(ctx["warmup"])
        except (TypeError, ValueError):
            raise CodedError(
                "INVALID_REQUEST",
                "marketContext.warmup must be a period such as 5d, 2wk or "
                f"1mo (data before the window that only warms indicators up), got "
                f"{ctx['warmup']!r}",
                details={"field": "marketContext.warmup"},
            ) from None
    if source == "synthetic" and not ctx.get("markets"):  # a portfolio's basket is checked on its own
        _check_synthetic_market(str(market).upper())
    if source == "yahoo":  # Yahoo's own limit (1m: 30 days) says more than the bar limit
        _check_yahoo_range(timeframe, warmup_start or start, end, now)
    if dataset is not None:
        _check_dataset_range(dataset, start, end)
    bars = ((end - (warmup_start or start)).total_seconds()) / timeframe_seconds(timeframe)
    if bars > settings.QM_MAX_BARS:
        raise CodedError(
            "INVALID_REQUEST",
            f"the period holds about {int(bars):,} {timeframe} bars; the limit is "
            f"{settings.QM_MAX_BARS:,}. Shorten the period or use a larger timeframe.",
            details={"field": "marketContext.testPeriod", "max_bars": settings.QM_MAX_BARS},
        )
    return DataWindow(str(market).upper(), timeframe, start, end, source, dataset_id, warmup_start)


def _check_yahoo_range(timeframe: str, start: datetime, end: datetime, now: datetime | None) -> None:
    from marketdata.providers import DataRangeUnavailable
    from marketdata.providers.yahoo import check_range

    try:
        check_range(timeframe, start, end, now=now or utcnow())
    except DataRangeUnavailable as exc:
        exc.details = {"field": "marketContext.testPeriod", **exc.details}
        raise


def _check_dataset_range(dataset, start: datetime, end: datetime) -> None:
    """A window that holds none of the dataset's bars would fail in the worker: refuse it here,
    naming the range the dataset covers."""
    first = pd.Timestamp(dataset.start).tz_convert("UTC")
    last = pd.Timestamp(dataset.end).tz_convert("UTC")
    if pd.Timestamp(end) > first and pd.Timestamp(start) <= last:
        return
    raise CodedError(
        "DATA_RANGE_UNAVAILABLE",
        f"dataset {dataset.id} ({dataset.symbol} {dataset.timeframe}) covers {first:%Y-%m-%d %H:%M} to "
        f"{last:%Y-%m-%d %H:%M} UTC; the requested period ({pd.Timestamp(start):%Y-%m-%d} to "
        f"{pd.Timestamp(end):%Y-%m-%d}) holds none of its bars. Choose dates inside that range, or a testPeriod.",
        {
            "field": "marketContext.startDate",
            "dataset_start": first.isoformat(),
            "dataset_end": last.isoformat(),
            "requested_start": pd.Timestamp(start).isoformat(),
            "requested_end": pd.Timestamp(end).isoformat(),
        },
    )


def _dataset_for_window(dataset_id: int, market: str, timeframe: str):
    """The dataset a request names, checked against its market and timeframe; None when it
    does not exist (backtest_submit answers DATASET_NOT_FOUND)."""
    from marketdata.resample import can_resample
    from marketdata.selectors import dataset_get

    dataset = dataset_get(dataset_id=dataset_id)
    if dataset is None:
        return None
    if dataset.symbol != market.upper():
        raise CodedError(
            "INVALID_REQUEST",
            f"dataset {dataset_id} holds {dataset.symbol}, not {market.upper()}",
            details={"field": "marketContext.market", "dataset_symbol": dataset.symbol},
        )
    if not can_resample(dataset.timeframe, timeframe):
        raise CodedError(
            "INVALID_REQUEST",
            f"dataset {dataset_id} holds {dataset.timeframe} bars; it can "
            f"serve {dataset.timeframe} or a larger multiple, not {timeframe}",
            details={"field": "marketContext.timeframe", "dataset_timeframe": dataset.timeframe},
        )
    return dataset
