"""RSI, Relative Strength Index (Wilder, 1978).

RSI = 100 - 100 / (1 + RS), RS = Wilder-smoothed average gain / average loss over ``period``
closes. Computed with TA-Lib ``RSI``; warm-up of ``period`` bars is NaN.
"""

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
        rsi = talib.RSI(as_float(data, "close"), timeperiod=config["period"])
        zone = zones(rsi, config["overbought"], config["oversold"])
        return {"value": rsi, "zone": zone}
