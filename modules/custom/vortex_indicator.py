"""Vortex Indicator (Etienne Botes & Douglas Siepman, Technical Analysis of Stocks &
Commodities, January 2010).

VM+_t = |high_t - low_{t-1}|, VM-_t = |low_t - high_{t-1}|, TR = true range;
VI+ = sum(VM+, n) / sum(TR, n), VI- = sum(VM-, n) / sum(TR, n) (TA-Lib ``SUM``, ``TRANGE``).
Dimensionless, around 1. NaN for the first ``period`` bars. ``trend`` is "bullish" when
VI+ > VI-; ``cross`` marks the bar where VI+ crosses above ("bull_cross") or below
("bear_cross") VI-, the authors' entry signal.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes


class VortexIndicator(BaseModule):
    module_id = "vortex_indicator"
    name = "Vortex Indicator"
    category = "custom"
    description = "VI+ and VI-: upward versus downward trend movement relative to true range."
    params = (Param("period", "integer", 14, title="Period", min=2, max=500, step=1, key=True),)
    outputs = (
        Output("plus", "numeric", "VI+, around 1", primary=True),
        Output("minus", "numeric", "VI-, around 1"),
        Output(
            "trend",
            "categorical",
            "bullish when VI+ > VI-, bearish when VI- > VI+",
            values=("bullish", "bearish", "neutral"),
        ),
        Output(
            "cross",
            "categorical",
            "VI+ crossed above (bull) / below (bear) VI- on this bar",
            values=("bull_cross", "bear_cross", "none"),
        ),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        n = config["period"]
        vm_plus, vm_minus = _movements(high, low)
        plus, minus, trend, cross = _vortex(
            talib.SUM(vm_plus, n), talib.SUM(vm_minus, n), talib.SUM(talib.TRANGE(high, low, close), n)
        )
        return {
            "plus": plus,
            "minus": minus,
            "trend": labels_from_codes(trend, ("bullish", "bearish", "neutral")),
            "cross": labels_from_codes(cross, ("bull_cross", "bear_cross", "none")),
        }


@njit(cache=True, nogil=True)
def _movements(high, low):
    """VM+ = |high - previous low| and VM- = |low - previous high| (NaN on the first bar)."""
    n = high.shape[0]
    vm_plus = np.empty(n)
    vm_minus = np.empty(n)
    if n:
        vm_plus[0] = np.nan
        vm_minus[0] = np.nan
    for t in range(1, n):
        vm_plus[t] = abs(high[t] - low[t - 1])
        vm_minus[t] = abs(low[t] - high[t - 1])
    return vm_plus, vm_minus


@njit(cache=True, nogil=True)
def _vortex(plus_sum, minus_sum, tr_sum):
    """VI+ and VI- (NaN where the true-range sum is not positive), the trend code of their
    spread (0 bullish, 1 bearish, 2 neutral) and its cross code (0 bull, 1 bear, 2 none). VI+
    and VI- are written over ``plus_sum`` and ``minus_sum`` (the caller's temporaries: no fresh
    arrays to fault in)."""
    n = tr_sum.shape[0]
    plus = plus_sum  # each sum is read at its own bar only, before its ratio replaces it
    minus = minus_sum
    trend = np.empty(n, dtype=np.int8)
    cross = np.empty(n, dtype=np.int8)
    prev = np.nan
    for t in range(n):
        if tr_sum[t] > 0:
            p = plus_sum[t] / tr_sum[t]
            m = minus_sum[t] / tr_sum[t]
        else:
            p = np.nan
            m = np.nan
        plus[t] = p
        minus[t] = m
        spread = p - m
        trend[t] = 0 if spread > 0 else (1 if spread < 0 else 2)
        cross[t] = 0 if (spread > 0 and prev <= 0) else (1 if (spread < 0 and prev >= 0) else 2)
        prev = spread
    return plus, minus, trend, cross
