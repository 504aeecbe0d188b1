"""Schaff Trend Cycle (Doug Schaff, 1999), as TradingView's built-in STC.

MACD = EMA(close, fast) - EMA(close, slow) (TA-Lib EMA). Two smoothed stochastics over
``cycle`` bars: k = 100 (MACD - lowest) / (highest - lowest) of the last ``cycle`` MACD values
(the previous k if that range is 0), d_t = d_{t-1} + factor (k_t - d_{t-1}); then the same on
d: kd = stochastic of d, STC_t = STC_{t-1} + factor (kd_t - STC_{t-1}). 0..100. Each smoothing
is seeded with its first defined input (TradingView starts them from zeros during warm-up,
so its first few dozen values differ); earlier bars are NaN. Numba kernel for the recursion
and the direction codes.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.common.series import zones
from modules.common.swings_sr import rolling_max, rolling_min
from modules.errors import ModuleConfigError


@njit(cache=True, nogil=True)
def _stc(macd, macd_high, macd_low, cycle, factor):
    """STC, then its direction codes against the bar before (0 rising, 1 falling, 2 equal or
    NaN) in a second, branchless loop. Written over the caller's temporaries (no fresh arrays to
    fault in): d over ``macd_high`` (NaN where that is NaN, as d is there) and STC over
    ``macd``, each read at its own bar before it is replaced."""
    n = macd.shape[0]
    d = macd_high
    stc = macd
    k = 0.0
    kd = 0.0
    first = -1
    for t in range(n):
        if np.isnan(macd_high[t]):
            stc[t] = np.nan  # d[t] is macd_high[t]: NaN already
            continue
        span = macd_high[t] - macd_low[t]
        if span > 0.0:
            k = 100.0 * (macd[t] - macd_low[t]) / span
        if first < 0:
            first = t
            d[t] = k
        else:
            d[t] = d[t - 1] + factor * (k - d[t - 1])
        if t - first < cycle - 1:
            stc[t] = np.nan
            continue
        lowest = d[t]
        highest = d[t]
        for j in range(t - cycle + 1, t):
            lowest = min(lowest, d[j])
            highest = max(highest, d[j])
        if highest - lowest > 0.0:
            kd = 100.0 * (d[t] - lowest) / (highest - lowest)
        if np.isnan(stc[t - 1]):
            stc[t] = kd
        else:
            stc[t] = stc[t - 1] + factor * (kd - stc[t - 1])
    direction = np.empty(n, dtype=np.int8)
    if n:
        direction[0] = 2
    for t in range(1, n):
        direction[t] = 2 - 2 * np.int8(stc[t] > stc[t - 1]) - np.int8(stc[t] < stc[t - 1])
    return stc, direction


class SchaffTrendCycle(BaseModule):
    module_id = "schaff_trend_cycle"
    name = "Schaff Trend Cycle"
    category = "custom"
    description = "MACD passed twice through a smoothed stochastic: a fast 0-100 trend cycle."
    requires = ("close",)
    params = (
        Param("cycle", "integer", 10, title="Cycle Length", min=2, max=200, step=1, key=True),
        Param("fast", "integer", 23, title="Fast EMA Period", min=1, max=500, step=1, key=True),
        Param("slow", "integer", 50, title="Slow EMA Period", min=2, max=1000, step=1, key=True),
        Param("factor", "number", 0.5, title="Smoothing Factor", min=0.01, max=1, step=0.01),
        Param("overbought", "number", 75, title="Overbought Level", min=50, max=100, step=1),
        Param("oversold", "number", 25, title="Oversold Level", min=0, max=50, step=1),
    )
    outputs = (
        Output("value", "numeric", "STC, 0-100", primary=True),
        Output(
            "zone",
            "categorical",
            "overbought / oversold / neutral by the levels",
            values=("overbought", "oversold", "neutral"),
        ),
        Output(
            "direction",
            "categorical",
            "STC rising or falling versus the bar before",
            values=("rising", "falling", "neutral"),
        ),
    )

    @classmethod
    def check_config(cls, config):
        if config["fast"] >= config["slow"]:
            raise ModuleConfigError(cls.module_id, "fast", "must be below slow")
        if config["oversold"] >= config["overbought"]:
            raise ModuleConfigError(cls.module_id, "oversold", "must be below overbought")

    def compute(self, data, config):
        close = as_float(data, "close")
        macd = talib.EMA(close, config["fast"]) - talib.EMA(close, config["slow"])
        cycle = config["cycle"]
        stc, direction = _stc(macd, rolling_max(macd, cycle), rolling_min(macd, cycle), cycle, config["factor"])
        zone = zones(stc, config["overbought"], config["oversold"])
        return {"value": stc, "zone": zone, "direction": labels_from_codes(direction, ("rising", "falling", "neutral"))}
