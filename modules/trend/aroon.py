"""Aroon indicator (Tushar Chande, 1995).

Aroon Up = 100 * (period - bars since the highest high of the last period + 1 bars) / period;
Aroon Down likewise with the lowest low; oscillator = Up - Down (-100..100). Computed with
TA-Lib ``AROON`` and ``AROONOSC``; the first ``period`` bars are NaN.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare


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
        osc = talib.AROONOSC(high, low, timeperiod=config["period"])
        return {
            "oscillator": osc,
            "up": up,
            "down": down,
            "trend": lambda: compare(osc, 0, ("bullish", "bearish", "neutral")),
        }
