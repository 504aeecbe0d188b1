"""Relative Vigor Index (John Ehlers, Stocks & Commodities, January 2002), as TradingView.

swma(x)_t = (x_{t-3} + 2 x_{t-2} + 2 x_{t-1} + x_t) / 6 (symmetric weighted average of 4 bars);
RVI = sum(swma(close - open), period) / sum(swma(high - low), period) (TA-Lib ``SUM``), the
signal line is swma(RVI). Unitless, usually -1..1: closes near the highs in up moves give a
positive RVI. NaN for the first period + 2 bars (signal: 3 more) or on zero-range windows.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare


@njit(cache=True, nogil=True)
def _swma_of_difference(a, b):
    """Symmetric weighted moving average (weights 1, 2, 2, 1, over 6) of ``a - b``; NaN for the
    first 3 bars."""
    n = a.shape[0]
    out = np.empty(n)
    out[: min(n, 3)] = np.nan
    for t in range(3, n):
        out[t] = (
            (a[t - 3] - b[t - 3]) + 2.0 * (a[t - 2] - b[t - 2]) + 2.0 * (a[t - 1] - b[t - 1]) + (a[t] - b[t])
        ) / 6.0
    return out


@njit(cache=True, nogil=True)
def _rvi(num, den):
    """RVI = num / den where den > 0 (else NaN), and its signal line: the swma of RVI."""
    n = num.shape[0]
    rvi = np.empty(n)
    signal = np.empty(n)
    for t in range(n):
        rvi[t] = num[t] / den[t] if den[t] > 0 else np.nan
        if t < 3:
            signal[t] = np.nan
        else:
            signal[t] = (rvi[t - 3] + 2.0 * rvi[t - 2] + 2.0 * rvi[t - 1] + rvi[t]) / 6.0
    return rvi, signal


class RelativeVigorIndex(BaseModule):
    module_id = "relative_vigor_index"
    name = "Relative Vigor Index"
    category = "custom"
    description = "Close-minus-open relative to the range: conviction of a move."
    params = (Param("period", "integer", 10, title="Period", min=2, max=500, step=1, key=True),)
    outputs = (
        Output("value", "numeric", "RVI, unitless (usually -1..1)", primary=True),
        Output("signal", "numeric", "signal line: swma of RVI"),
        Output(
            "trend", "categorical", "bullish when RVI > signal, bearish below", values=("bullish", "bearish", "neutral")
        ),
    )

    def compute(self, data, config):
        open_, high = as_float(data, "open"), as_float(data, "high")
        low, close = as_float(data, "low"), as_float(data, "close")
        num = talib.SUM(_swma_of_difference(close, open_), config["period"])
        den = talib.SUM(_swma_of_difference(high, low), config["period"])
        rvi, signal = _rvi(num, den)
        trend = compare(rvi, signal, ("bullish", "bearish", "neutral"))
        return {"value": rvi, "signal": signal, "trend": trend}
