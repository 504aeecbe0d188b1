"""CCI, Commodity Channel Index (Donald Lambert, 1980).

TP = (high + low + close) / 3; CCI = (TP - SMA(TP, period)) / (0.015 * mean absolute deviation
of TP over period). Unbounded, mostly within -200..200. Computed with TA-Lib ``CCI``; the first
``period - 1`` bars are NaN.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import ZONE_OUTPUT, LevelsCheck, zones


class CCI(LevelsCheck, BaseModule):
    module_id = "cci"
    name = "CCI"
    category = "momentum"
    description = "Commodity Channel Index: distance of the typical price from its average."
    params = (
        Param("period", "integer", 20, title="CCI Period", min=2, max=500, step=1, key=True),
        Param("overbought", "number", 100, title="Overbought Level", min=0, max=500, step=10),
        Param("oversold", "number", -100, title="Oversold Level", min=-500, max=0, step=10),
    )
    outputs = (
        Output("value", "numeric", "CCI value", primary=True),
        ZONE_OUTPUT,
    )

    def compute(self, data, config):
        cci = talib.CCI(
            as_float(data, "high"), as_float(data, "low"), as_float(data, "close"), timeperiod=config["period"]
        )
        return {"value": cci, "zone": lambda: zones(cci, config["overbought"], config["oversold"])}
