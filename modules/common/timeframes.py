"""The supported timeframes: the one table, shared by the modules, the engine and the market-data layer.

Pure Python (no Django, no market-data imports): :mod:`marketdata.timeframes` takes it from here.
"""

from __future__ import annotations

#: supported timeframes, seconds per bar, shortest first.
TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "4h": 14400,
    "1d": 86400,
}


def timeframe_seconds(timeframe: str) -> int:
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; expected one of {list(TIMEFRAME_SECONDS)}") from None


def timeframe_label(seconds: int) -> str:
    """``3600`` -> ``"1h"``; other spacings as ``"<n>s"``/``"<n>m"``/``"<n>h"``."""
    for label, value in TIMEFRAME_SECONDS.items():
        if value == seconds:
            return label
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
