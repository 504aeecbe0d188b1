"""Timeframes and test periods: parsing shared by providers, storage and the engine. No Django."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pandas as pd

TIMEFRAME_SECONDS = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "4h": 14400,
    "1d": 86400,
}
PERIOD_RE = re.compile(r"^(\d+)(d|wk|mo|y)$")
PERIOD_CHOICES = ("1d", "5d", "1wk", "1mo", "2mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "max")
MAX_PERIOD_DAYS = 365 * 10


def timeframe_seconds(timeframe: str) -> int:
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; expected one of {list(TIMEFRAME_SECONDS)}") from None


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
