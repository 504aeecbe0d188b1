"""Choppiness Index (E. W. "Bill" Dreiss, 1990s).

CHOP = 100 * log10( sum(TR, n) / (highest high(n) - lowest low(n)) ) / log10(n), between 0
and 100: near 100 the bars overlap (sideways, choppy market), near 0 price moves in one
direction (trending). TR is the true range (TA-Lib ``TRANGE``; the first bar uses high - low,
as TradingView's ``atr(1)``). Sums, highs and lows with TA-Lib ``SUM``/``MAX``/``MIN``. NaN
for the first ``period - 1`` bars and on a zero-range window. Dreiss's Fibonacci thresholds:
above 61.8 choppy, below 38.2 trending.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.errors import ModuleConfigError


class Choppiness(BaseModule):
    module_id = "choppiness"
    name = "Choppiness Index"
    category = "custom"
    description = "Is the market trending (low) or moving sideways (high)? 0-100."
    params = (
        Param("period", "integer", 14, title="Period", min=2, max=1000, step=1, key=True),
        Param("choppy_level", "number", 61.8, title="Choppy Above", min=1, max=99, step=0.1),
        Param("trending_level", "number", 38.2, title="Trending Below", min=1, max=99, step=0.1),
    )
    outputs = (
        Output("value", "numeric", "Choppiness Index, 0-100", primary=True),
        Output(
            "regime",
            "categorical",
            "choppy above choppy_level, trending below trending_level",
            values=("choppy", "trending", "neutral"),
        ),
    )

    @classmethod
    def check_config(cls, config):
        if config["trending_level"] >= config["choppy_level"]:
            raise ModuleConfigError(cls.module_id, "trending_level", "must be below choppy_level")

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        n = config["period"]
        true_range = talib.TRANGE(high, low, close)
        if len(close):
            true_range[0] = high[0] - low[0]
        ratio = _ratio(talib.SUM(true_range, n), talib.MAX(high, n), talib.MIN(low, n))
        with np.errstate(invalid="ignore", divide="ignore"):
            np.log10(ratio, out=ratio)  # NumPy's log10, not libm's: the same bits as before
        chop, regime = _choppiness(ratio, np.log10(n), config["choppy_level"], config["trending_level"])
        return {"value": chop, "regime": labels_from_codes(regime, ("choppy", "trending", "neutral"))}


@njit(cache=True, nogil=True)
def _ratio(true_range_sum, highest, lowest):
    """Sum of the true range over the window's span (highest - lowest), NaN where the span is
    not positive."""
    n = highest.shape[0]
    out = np.empty(n)
    for t in range(n):
        span = highest[t] - lowest[t]
        out[t] = true_range_sum[t] / span if span > 0 else np.nan
    return out


@njit(cache=True, nogil=True)
def _choppiness(log_ratio, log_period, choppy, trending):
    """100 log10(ratio) / log10(period) and the regime code: 0 choppy, 1 trending, 2 neutral."""
    n = log_ratio.shape[0]
    chop = np.empty(n)
    regime = np.empty(n, dtype=np.int8)
    for t in range(n):
        value = 100.0 * log_ratio[t] / log_period
        chop[t] = value
        regime[t] = 0 if value > choppy else (1 if value < trending else 2)
    return chop, regime
