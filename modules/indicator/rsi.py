"""RSI, Relative Strength Index (Wilder, 1978).

RSI = 100 - 100 / (1 + RS), RS = Wilder-smoothed average gain / average loss over ``period``
closes. Computed with TA-Lib ``RSI``; warm-up of ``period`` bars is NaN.

A market that did not move (no gain and no loss over the smoothing) has RSI 50 by convention:
TA-Lib answers 0 there, which would read as deeply oversold, so "RSI < 30" would open trades on
a flat series. The flat bars are those where both RSI(close) and RSI(-close) are 0 (a real 0,
only losses, mirrors to 100).
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import ZONE_OUTPUT, LevelsCheck, zones


class RSI(LevelsCheck, BaseModule):
    module_id = "rsi"
    name = "RSI"
    category = "indicator"
    description = "Relative Strength Index: momentum oscillator between 0 and 100."
    requires = ("close",)
    params = (
        Param("period", "integer", 14, title="RSI Period", min=2, max=200, step=1, key=True),
        Param("overbought", "number", 70, title="Overbought Level", min=50, max=95, step=1),
        Param("oversold", "number", 30, title="Oversold Level", min=5, max=50, step=1),
    )
    outputs = (
        Output("value", "numeric", "RSI value, 0-100", primary=True),
        ZONE_OUTPUT,
    )

    def compute(self, data, config):
        close = as_float(data, "close")
        rsi = talib.RSI(close, timeperiod=config["period"])
        # a positive minimum rules out a 0 in one read-only pass (``rsi == 0`` also writes a
        # mask); a NaN minimum (NaN closes) leaves it to that exact test
        if not rsi[config["period"] :].min(initial=np.inf) > 0 and (rsi == 0).any():
            flat = (rsi == 0) & (talib.RSI(-close, timeperiod=config["period"]) == 0)
            rsi = np.where(flat, 50.0, rsi)
        return {"value": rsi, "zone": lambda: zones(rsi, config["overbought"], config["oversold"])}
