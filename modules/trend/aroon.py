"""Aroon indicator (Tushar Chande, 1995).

Aroon Up = 100 * (period - bars since the highest high of the last period + 1 bars) / period;
Aroon Down likewise with the lowest low; oscillator = Up - Down (-100..100). Computed with
TA-Lib ``AROON``; the first ``period`` bars are NaN. The oscillator is TA-Lib ``AROONOSC``'s
``100 / period * (bars since the low - bars since the high)``, those counts read back from Up and
Down in one Numba pass instead of a second scan of the highs and lows.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare


@njit(cache=True, nogil=True)
def _oscillator(up, down, period):
    """TA-Lib ``AROONOSC`` from ``AROON``'s outputs: Up and Down are ``factor`` times a whole
    number of bars (factor = 100 / period), which rounding recovers exactly; the oscillator is
    ``factor`` times their difference, as TA-Lib computes it (NaN where Up is)."""
    factor = 100.0 / period
    bars_per_point = period / 100.0
    out = np.empty(up.shape[0])
    for t in range(up.shape[0]):
        out[t] = factor * (np.rint(up[t] * bars_per_point) - np.rint(down[t] * bars_per_point))
    return out


class Aroon(BaseModule):
    module_id = "aroon"
    name = "Aroon"
    category = "trend"
    description = "Aroon Up/Down: how recently the highest high and lowest low occurred."
    params = (Param("period", "integer", 25, title="Aroon Period", min=2, max=500, step=1, key=True),)
    outputs = (
        Output("oscillator", "numeric", "Aroon Up - Aroon Down, -100..100", primary=True),
        Output("up", "numeric", "Aroon Up, 0-100 (100 = new high this bar)"),
        Output("down", "numeric", "Aroon Down, 0-100 (100 = new low this bar)"),
        Output(
            "trend",
            "categorical",
            "bullish when Up > Down, bearish when Down > Up",
            values=("bullish", "bearish", "neutral"),
        ),
    )

    def compute(self, data, config):
        high, low = as_float(data, "high"), as_float(data, "low")
        down, up = talib.AROON(high, low, timeperiod=config["period"])
        osc = _oscillator(up, down, config["period"])
        return {
            "oscillator": osc,
            "up": up,
            "down": down,
            "trend": lambda: compare(osc, 0, ("bullish", "bearish", "neutral")),
        }
