"""Timeframes and test periods: parsing shared by providers, storage and the engine. No Django.

The timeframe table itself lives in the pure layer (:mod:`modules.common.timeframes`) and is re-exported here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pandas as pd

from modules.common.timeframes import TIMEFRAME_SECONDS as TIMEFRAME_SECONDS
from modules.common.timeframes import timeframe_seconds as timeframe_seconds

PERIOD_RE = re.compile(r"^(\d+)(d|wk|mo|y)$")
PERIOD_CHOICES = ("1d", "5d", "1wk", "1mo", "2mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "max")
MAX_PERIOD_DAYS = 365 * 10


def pandas_freq(timeframe: str) -> str:
    return f"{timeframe_seconds(timeframe)}s"


def period_to_timedelta(period: str) -> timedelta:
    """``1mo`` → 30 days, ``2y`` → 730 days, ``max`` → 10 years (yfinance-style periods)."""
    if period == "max":
        return timedelta(days=MAX_PERIOD_DAYS)
    match = PERIOD_RE.match(period or "")
    if not match:
        raise ValueError(f"unknown test period {period!r}; expected one of {list(PERIOD_CHOICES)}")
    n, unit = int(match.group(1)), match.group(2)
    days = {"d": 1, "wk": 7, "mo": 30, "y": 365}[unit] * n
    if n <= 0 or days > MAX_PERIOD_DAYS:
        raise ValueError(f"test period {period!r} out of range (1d to 10y)")
    return timedelta(days=days)


def floor_time(moment: datetime, timeframe: str) -> datetime:
    ts = pd.Timestamp(moment)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.floor(pandas_freq(timeframe)).to_pydatetime()


def utcnow() -> datetime:
    return datetime.now(UTC)
