"""Turning a validated V4 body into what a run needs: the strategy spec and the data window.

Pure functions over the body (no ORM writes); raise ApplicationError with the API's codes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from django.conf import settings

from backtests.engine import StrategyError, StrategySpec, build_strategy
from marketdata.timeframes import floor_time, period_to_timedelta, timeframe_seconds, utcnow
from qm_platform.errors import ApplicationError

DEFAULT_TEST_PERIOD = "2mo"


@dataclass(frozen=True)
class DataWindow:
    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    source: str          # "synthetic", "yahoo" or "dataset"
    dataset_id: int | None = None


def strategy_from_request(body: dict) -> StrategySpec:
    try:
        return build_strategy(body)
    except StrategyError as exc:
        raise ApplicationError(exc.code, exc.message, details=exc.details) from None


def _parse_time(raw, field: str) -> datetime:
    try:
        ts = pd.Timestamp(raw)
    except (ValueError, TypeError):
        raise ApplicationError("INVALID_REQUEST", f"{field} is not a valid ISO 8601 time: {raw!r}",
                               details={"field": field}) from None
    if ts is pd.NaT:
        raise ApplicationError("INVALID_REQUEST", f"{field} is required", details={"field": field})
    if ts.tzinfo is None:
        raise ApplicationError("INVALID_REQUEST", f"{field} needs a timezone (e.g. 2024-01-01T00:00:00Z)",
                               details={"field": field})
    return ts.tz_convert("UTC").to_pydatetime()


def data_window_from_request(body: dict, *, now: datetime | None = None) -> DataWindow:
    ctx = body["marketContext"]
    timeframe = ctx["timeframe"]
    raw_source = ctx.get("dataSource", settings.QM_DEFAULT_DATA_SOURCE)
    dataset_id = None
    if isinstance(raw_source, int) and not isinstance(raw_source, bool):
        source, dataset_id = "dataset", raw_source
    elif raw_source in ("synthetic", "yahoo"):
        source = raw_source
    else:
        raise ApplicationError("INVALID_REQUEST",
                               "marketContext.dataSource must be 'synthetic', 'yahoo' or a dataset id",
                               details={"field": "marketContext.dataSource"})
    if source == "yahoo":
        raise ApplicationError("DATA_SOURCE_UNAVAILABLE",
                               "Yahoo Finance is not reachable from this server; upload a CSV dataset "
                               "or use dataSource 'synthetic'.",
                               details={"field": "marketContext.dataSource"}, status_code=400)
    if ctx.get("startDate") or ctx.get("endDate"):
        start = _parse_time(ctx.get("startDate"), "marketContext.startDate")
        end = _parse_time(ctx.get("endDate"), "marketContext.endDate")
    else:
        period = ctx.get("testPeriod", DEFAULT_TEST_PERIOD)
        try:
            span = period_to_timedelta(period)
        except ValueError as exc:
            raise ApplicationError("INVALID_REQUEST", str(exc), details={"field": "marketContext.testPeriod"}) from None
        end = floor_time(now or utcnow(), timeframe)
        start = end - span
    if end <= start:
        raise ApplicationError("INVALID_REQUEST", "marketContext.endDate must be after startDate",
                               details={"field": "marketContext.endDate"})
    bars = (end - start).total_seconds() / timeframe_seconds(timeframe)
    if bars > settings.QM_MAX_BARS:
        raise ApplicationError("INVALID_REQUEST",
                               f"the period holds about {int(bars):,} {timeframe} bars; the limit is "
                               f"{settings.QM_MAX_BARS:,}. Shorten the period or use a larger timeframe.",
                               details={"field": "marketContext.testPeriod", "max_bars": settings.QM_MAX_BARS})
    return DataWindow(ctx["market"].upper(), timeframe, start, end, source, dataset_id)
