"""Relative Vigor Index (John Ehlers, Stocks & Commodities, January 2002), as TradingView.

swma(x)_t = (x_{t-3} + 2 x_{t-2} + 2 x_{t-1} + x_t) / 6 (symmetric weighted average of 4 bars);
RVI = sum(swma(close - open), period) / sum(swma(high - low), period) (TA-Lib ``SUM``), the
signal line is swma(RVI). Unitless, usually -1..1: closes near the highs in up moves give a
positive RVI. NaN for the first period + 2 bars (signal: 3 more) or on zero-range windows.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare


def swma(x: np.ndarray) -> np.ndarray:
    """Symmetric weighted moving average with weights 1, 2, 2, 1 (over 6)."""
    out = np.full_like(x, np.nan)
    out[3:] = (x[:-3] + 2.0 * x[1:-2] + 2.0 * x[2:-1] + x[3:]) / 6.0
    return out


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
        num = talib.SUM(swma(close - open_), config["period"])
        den = talib.SUM(swma(high - low), config["period"])
        with np.errstate(invalid="ignore", divide="ignore"):
            rvi = np.where(den > 0, num / den, np.nan)
            signal = swma(rvi)
            trend = compare(rvi, signal, ("bullish", "bearish", "neutral"))
        return {"value": rvi, "signal": signal, "trend": trend}
