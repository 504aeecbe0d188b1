"""Deterministic synthetic OHLCV, so the platform works offline.

The price of a symbol at a given bar is the same whatever range is asked for: a daily path is
generated from a fixed anchor date (2015-01-01) with a seed derived from the symbol, and each
day's intraday bars are a Brownian bridge from that day's open to its close, seeded by
(symbol, timeframe, day). Each market starts at its real order of magnitude (EURUSD ~1.08,
XAUUSD ~2,000, BTCUSD ~60,000) with its asset class's daily volatility (FX ~0.5 %, crypto
~3 %), and the log price is pulled gently back towards that level, so a path drawn over thirty
years stays where a trader expects the market (EURUSD between about 0.97 and 1.20). Volatility
switches between calm and volatile regimes, intraday volatility and volume follow the
Asia/London/New York sessions, and FX, metals and indices are closed on weekends (crypto
trades 24/7). No Django import.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from marketdata.progress import report
from marketdata.timeframes import timeframe_seconds

ANCHOR = pd.Timestamp("2015-01-01", tz="UTC")
HORIZON = pd.Timestamp("2045-01-01", tz="UTC")  # the daily path is always drawn to here
BASE_PRICES = {
    "XAUUSD": 2000.0,
    "XAGUSD": 24.0,
    "EURUSD": 1.08,
    "GBPUSD": 1.27,
    "USDJPY": 150.0,
    "BTCUSD": 60000.0,
    "ETHUSD": 3000.0,
    "US30": 38000.0,
    "NAS100": 17500.0,
    "SPX500": 5000.0,
    "GER40": 17500.0,
}
CRYPTO = {"BTCUSD", "ETHUSD"}
ASSET_CLASS = {
    **dict.fromkeys(("EURUSD", "GBPUSD", "USDJPY"), "fx"),
    **dict.fromkeys(("XAUUSD", "XAGUSD"), "metal"),
    **dict.fromkeys(CRYPTO, "crypto"),
    **dict.fromkeys(("US30", "NAS100", "SPX500", "GER40"), "index"),
}


@dataclass(frozen=True)
class Character:
    """How a kind of market moves: daily log-return volatility in its calm and volatile regimes,
    and ``band``, the standard deviation of the log price around its base level."""

    calm: float
    volatile: float
    band: float


CHARACTER = {
    "fx": Character(calm=0.003, volatile=0.006, band=0.03),
    "metal": Character(calm=0.007, volatile=0.014, band=0.08),
    "crypto": Character(calm=0.022, volatile=0.045, band=0.25),
    "index": Character(calm=0.006, volatile=0.014, band=0.07),
    "other": Character(calm=0.006, volatile=0.016, band=0.25),
}
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
        day_open, day_close, day_vol = self.daily_path(symbol)
        frames = []
        bars_per_day = max(1, 86400 // bar)
        offsets = np.arange(bars_per_day) * bar
        hours = (offsets // 3600) % 24
        activity = HOUR_ACTIVITY[hours]
        for number, day in enumerate(days):
            report(number, len(days))  # progress, and the run's chance to stop (cancelled)
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

    def daily_path(self, symbol: str):
        """Log open, log close and volatility of every day from ANCHOR to HORIZON (arrays)."""
        n = (HORIZON - ANCHOR).days + 1
        rng = np.random.default_rng(_seed("daily", symbol))
        # Two-state regime chain with sticky transitions (mean regime length ~40 days).
        switches = rng.random(n) < 1 / 40
        regime = np.cumsum(switches) % 2
        character = CHARACTER[ASSET_CLASS.get(symbol, "other")]
        vol = np.where(regime == 1, character.volatile, character.calm)
        # Slow-moving drift gives trending stretches.
        drift = 0.05 * character.calm * np.sin(np.arange(n) / 55.0 + _seed("phase", symbol) % 7)
        shocks = drift + vol * rng.standard_normal(n)
        # Ornstein-Uhlenbeck pull towards the base level: x' = x (1 - k) + shock keeps the log
        # price's deviation near ``band`` (stationary sd = sd(shock) / sqrt(2k)).
        mean_vol = (character.calm + character.volatile) / 2
        pull = min(0.5, 0.5 * (mean_vol / character.band) ** 2)
        deviation = _mean_reverting_walk(shocks, 1.0 - pull)
        base = np.log(BASE_PRICES.get(symbol, 100.0))
        log_close = base + deviation
        log_open = np.concatenate(([base], log_close[:-1]))
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


def _mean_reverting_walk(shocks: np.ndarray, keep: float) -> np.ndarray:
    """x[i] = keep * x[i-1] + shocks[i], x[-1] = 0: an AR(1) filter (scipy.signal.lfilter's
    recursion, written out with cumulative sums in blocks so the powers of ``keep`` stay finite)."""
    out = np.empty_like(shocks)
    level = 0.0
    block = 256
    powers = keep ** np.arange(block)
    for start in range(0, len(shocks), block):
        chunk = shocks[start : start + block]
        k = len(chunk)
        p = powers[:k]
        # x[j] = keep^(j+1) * level + sum_{i<=j} keep^(j-i) * chunk[i]
        out[start : start + k] = p * keep * level + p * np.cumsum(chunk / p)
        level = out[start + k - 1]
    return out


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="float64") for c in ("open", "high", "low", "close", "volume")},
        index=pd.DatetimeIndex([], tz="UTC", name="timestamp"),
    )
