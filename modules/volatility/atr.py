"""ATR, Average True Range (Wilder, 1978).

TR = max(high - low, |high - prev close|, |low - prev close|); ATR = Wilder's smoothing of TR
over ``period``. Computed with TA-Lib ``ATR``; the first ``period`` bars are NaN. Price units.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float


class ATR(BaseModule):
    module_id = "atr"
    name = "ATR"
    category = "volatility"
    description = "Average True Range: average bar range including gaps, in price units."
    params = (Param("period", "integer", 14, title="ATR Period", min=1, max=500, step=1, key=True),)
    outputs = (Output("value", "numeric", "ATR in price units", primary=True),)

    def compute(self, data, config):
        return {
            "value": talib.ATR(
                as_float(data, "high"), as_float(data, "low"), as_float(data, "close"), timeperiod=config["period"]
            )
        }
