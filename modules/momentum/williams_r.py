"""Williams %R (Larry Williams, 1973).

%R = -100 * (highest high - close) / (highest high - lowest low) over ``period`` bars.
Values -100..0 (0 = close at the period high). Computed with TA-Lib ``WILLR``; the first
``period - 1`` bars are NaN.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import ZONE_OUTPUT, LevelsCheck, zones


class WilliamsR(LevelsCheck, BaseModule):
    module_id = "williams_r"
    name = "Williams %R"
    category = "momentum"
    description = "Williams %R: close relative to the recent high-low range, -100..0."
    params = (
        Param("period", "integer", 14, title="Period", min=2, max=500, step=1, key=True),
        Param("overbought", "number", -20, title="Overbought Level", min=-50, max=0, step=1),
        Param("oversold", "number", -80, title="Oversold Level", min=-100, max=-50, step=1),
    )
    outputs = (
        Output("value", "numeric", "Williams %R, -100..0", primary=True),
        ZONE_OUTPUT,
    )

    def compute(self, data, config):
        wr = talib.WILLR(
            as_float(data, "high"), as_float(data, "low"), as_float(data, "close"), timeperiod=config["period"]
        )
        return {"value": wr, "zone": lambda: zones(wr, config["overbought"], config["oversold"])}
