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

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes


@njit(cache=True, nogil=True)
def _supertrend(high, low, close, atr, multiplier):
    """The line, the direction code (0 bullish, 1 bearish, 2 warm-up) and the reversals, from
    the basic bands (high + low) / 2 +/- multiplier * ATR."""
    n = close.shape[0]
    line = np.empty(n)
    code = np.empty(n, dtype=np.int8)
    reversal = np.empty(n, dtype=np.bool_)
    upper = lower = np.nan
    previous = 0  # direction of the bar before: 1 up, -1 down, 0 warm-up
    for t in range(n):
        mid = (high[t] + low[t]) / 2.0
        band = multiplier * atr[t]
        upper_basic = mid + band
        lower_basic = mid - band
        direction = 0
        if np.isnan(upper_basic):
            line[t] = np.nan
        else:
            if np.isnan(upper):  # first bar with an ATR
                upper, lower, direction = upper_basic, lower_basic, -1
            else:
                prev_close = close[t - 1]
                if upper_basic < upper or prev_close > upper:
                    upper = upper_basic
                if lower_basic > lower or prev_close < lower:
                    lower = lower_basic
                if previous == -1:
                    direction = 1 if close[t] > upper else -1
                else:
                    direction = -1 if close[t] < lower else 1
            line[t] = lower if direction == 1 else upper
        code[t] = 0 if direction == 1 else (1 if direction == -1 else 2)
        reversal[t] = direction * previous == -1
        previous = direction
    return line, code, reversal


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
        line, code, reversal = _supertrend(high, low, close, atr, config["multiplier"])
        return {
            "value": line,
            "direction": labels_from_codes(code, ("bullish", "bearish", "neutral")),
            "reversal": reversal,
        }
