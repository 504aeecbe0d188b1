"""Deterministic synthetic OHLCV, so the platform works offline.

The price of a symbol at a given bar is the same whatever range is asked for: a daily path is
generated from a fixed anchor date (2015-01-01) with a seed derived from the symbol, and each
day's intraday bars are a Brownian bridge from that day's open to its close, seeded by
(symbol, timeframe, day). Volatility switches between calm and volatile regimes, intraday
volatility and volume follow the Asia/London/New York sessions, and FX, metals and indices
are closed on weekends (crypto trades 24/7). No Django import.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import numpy as np
import pandas as pd

from marketdata.timeframes import timeframe_seconds

ANCHOR = pd.Timestamp("2015-01-01", tz="UTC")
HORIZON = pd.Timestamp("2045-01-01", tz="UTC")  # the daily path is always drawn to here
BASE_PRICES = {
    "XAUUSD": 1900.0,
    "XAGUSD": 23.0,
    "EURUSD": 1.08,
    "GBPUSD": 1.26,
    "USDJPY": 148.0,
    "BTCUSD": 30000.0,
    "ETHUSD": 2000.0,
    "US30": 35000.0,
    "NAS100": 15000.0,
    "SPX500": 4500.0,
    "GER40": 16000.0,
}
DAILY_VOL = {"calm": 0.006, "volatile": 0.016}
CRYPTO = {"BTCUSD", "ETHUSD"}
# Relative intraday activity by UTC hour: quiet Asia, busy London and New York.
HOUR_ACTIVITY = np.array(
    [
        0.6,
        0.6,
        0.6,
        0.6,
        0.6,
        0.6,
        0.7,
        0.9,
        1.4,
        1.5,
        1.3,
        1.1,
        1.2,
        1.6,
        1.8,
        1.6,
        1.3,
        1.0,
        0.8,
        0.7,
        0.6,
        0.6,
        0.6,
        0.6,
    ]
)


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def is_weekend_closed(symbol: str) -> bool:
    return symbol.upper() not in CRYPTO


class SyntheticProvider:
    """Deterministic, realistic-looking OHLCV for any symbol and timeframe."""

    name = "synthetic"

    def download(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        symbol = symbol.upper()
        bar = timeframe_seconds(timeframe)
        start_ts = max(pd.Timestamp(start).tz_convert("UTC"), ANCHOR)
        end_ts = min(pd.Timestamp(end).tz_convert("UTC"), HORIZON)
        if end_ts <= start_ts:
            return _empty()
        first_day = start_ts.floor("D")
        days = pd.date_range(first_day, end_ts.floor("D"), freq="D", tz="UTC")
        day_open, day_close, day_vol = self._daily_path(symbol)
        frames = []
        bars_per_day = max(1, 86400 // bar)
        offsets = np.arange(bars_per_day) * bar
        hours = (offsets // 3600) % 24
        activity = HOUR_ACTIVITY[hours]
        for day in days:
            if is_weekend_closed(symbol) and day.day_of_week >= 5:
                continue
            i = (day - ANCHOR).days
            frames.append(
                self._intraday(symbol, timeframe, day, day_open[i], day_close[i], day_vol[i], offsets, activity)
            )
        if not frames:
            return _empty()
        df = pd.concat(frames)
        return df[(df.index >= start_ts) & (df.index < end_ts)]

    def _daily_path(self, symbol: str):
        n = (HORIZON - ANCHOR).days + 1
        rng = np.random.default_rng(_seed("daily", symbol))
        # Two-state regime chain with sticky transitions (mean regime length ~40 days).
        switches = rng.random(n) < 1 / 40
        regime = np.cumsum(switches) % 2
        vol = np.where(regime == 1, DAILY_VOL["volatile"], DAILY_VOL["calm"])
        # Slow-moving drift gives trending stretches.
        drift = 0.0008 * np.sin(np.arange(n) / 55.0 + _seed("phase", symbol) % 7)
        returns = drift + vol * rng.standard_normal(n)
        log_close = np.log(BASE_PRICES.get(symbol, 100.0)) + np.cumsum(returns)
        log_open = np.concatenate(([np.log(BASE_PRICES.get(symbol, 100.0))], log_close[:-1]))
        return log_open, log_close, vol

    def _intraday(self, symbol, timeframe, day, log_open, log_close, vol, offsets, activity):
        n = len(offsets)
        rng = np.random.default_rng(_seed("intraday", symbol, timeframe, day.date().isoformat()))
        if n == 1:
            closes = np.array([log_close])
            opens = np.array([log_open])
        else:
            steps = rng.standard_normal(n) * activity
            steps *= vol / np.sqrt(np.sum(activity**2))
            walk = np.cumsum(steps)
            t = np.arange(1, n + 1) / n
            closes = log_open + (log_close - log_open) * t + walk - t * walk[-1]
            opens = np.concatenate(([log_open], closes[:-1]))
        bar_vol = vol / np.sqrt(n) * activity
        wick_up = np.abs(rng.standard_normal(n)) * bar_vol * 0.6
        wick_dn = np.abs(rng.standard_normal(n)) * bar_vol * 0.6
        o, c = np.exp(opens), np.exp(closes)
        high = np.maximum(o, c) * np.exp(wick_up)
        low = np.minimum(o, c) * np.exp(-wick_dn)
        volume = np.round(1000 * activity * rng.lognormal(0.0, 0.4, n) * (1 + 40 * vol))
        index = day + pd.to_timedelta(offsets, unit="s")
        digits = 5 if o[0] < 50 else 2
        return pd.DataFrame(
            {
                "open": np.round(o, digits),
                "high": np.round(high, digits),
                "low": np.round(low, digits),
                "close": np.round(c, digits),
                "volume": volume.astype(np.float64),
            },
            index=pd.DatetimeIndex(index, name="timestamp"),
        )


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="float64") for c in ("open", "high", "low", "close", "volume")},
        index=pd.DatetimeIndex([], tz="UTC", name="timestamp"),
    )
