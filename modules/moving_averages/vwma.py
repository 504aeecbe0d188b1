"""Volume-weighted moving average: VWMA = sum(source * volume, period) / sum(volume, period).

Price units; the first ``period - 1`` bars are NaN, and so is any bar whose window has no volume.
Rolling sums via TA-Lib ``SUM``. ``position`` compares the close with the average.
"""

import numpy as np
import talib

from modules.base import BaseModule, as_float
from modules.common.series import MA_OUTPUTS, ma_params, position, price_source


class VWMA(BaseModule):
    module_id = "vwma"
    name = "Volume-Weighted Moving Average"
    category = "moving_averages"
    description = "Volume-Weighted Moving Average: prices of busy bars count more."
    requires = ("open", "high", "low", "close", "volume")
    params = ma_params(20)
    outputs = MA_OUTPUTS

    def compute(self, data, config):
        price, volume = price_source(data, config["source"]), as_float(data, "volume")
        weighted = talib.SUM(price * volume, timeperiod=config["period"])
        total = talib.SUM(volume, timeperiod=config["period"])
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(total > 0, weighted / total, np.nan)
        return {"value": value, "position": position(as_float(data, "close"), value)}
