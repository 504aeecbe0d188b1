"""Supertrend (Olivier Seban, 2000s; formula as in TradingView's ``ta.supertrend``).

ATR = TA-Lib ``ATR`` (Wilder) over ``period``; basic bands = (high + low) / 2 +/- multiplier * ATR.
The upper band only moves down (the lower band only up) unless the previous close broke it.
In a downtrend the line is the upper band; a close above it flips to an uptrend, whose line is
the lower band; a close below that flips back. The first ``period`` bars are NaN / neutral, and
the first bar with an ATR starts as a downtrend (as in TradingView). Price units.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import labels


@njit(cache=True)
def _supertrend(close, upper_basic, lower_basic):
    n = close.shape[0]
    line = np.full(n, np.nan)
    direction = np.zeros(n, dtype=np.int8)  # 1 up, -1 down, 0 warm-up
    upper = lower = np.nan
    for t in range(n):
        if np.isnan(upper_basic[t]):
            continue
        if np.isnan(upper):  # first bar with an ATR
            upper, lower, direction[t] = upper_basic[t], lower_basic[t], -1
        else:
            prev_close = close[t - 1]
            if upper_basic[t] < upper or prev_close > upper:
                upper = upper_basic[t]
            if lower_basic[t] > lower or prev_close < lower:
                lower = lower_basic[t]
            if direction[t - 1] == -1:
                direction[t] = 1 if close[t] > upper else -1
            else:
                direction[t] = -1 if close[t] < lower else 1
        line[t] = lower if direction[t] == 1 else upper
    return line, direction


class Supertrend(BaseModule):
    module_id = "supertrend"
    name = "Supertrend"
    category = "trend"
    description = "Supertrend: ATR trailing line that flips side when the close crosses it."
    params = (
        Param("period", "integer", 10, title="ATR Period", min=1, max=500, step=1, key=True),
        Param("multiplier", "number", 3.0, title="ATR Multiplier", min=0.1, max=20, step=0.1, key=True),
    )
    outputs = (
        Output("value", "numeric", "Supertrend line, price units", primary=True),
        Output(
            "direction",
            "categorical",
            "bullish (line below price) or bearish (line above)",
            values=("bullish", "bearish", "neutral"),
        ),
        Output("reversal", "boolean", "direction flipped on this bar"),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        atr = talib.ATR(high, low, close, timeperiod=config["period"])
        mid, band = (high + low) / 2.0, config["multiplier"] * atr
        line, code = _supertrend(close, mid + band, mid - band)
        reversal = np.zeros(len(close), dtype=bool)
        reversal[1:] = (code[1:] * code[:-1]) == -1
        direction = labels([(code == 1, "bullish"), (code == -1, "bearish")], len(close), "neutral")
        return {"value": line, "direction": direction, "reversal": reversal}
