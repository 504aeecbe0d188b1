"""Weighted moving average (WMA): linearly weighted mean, WMA = sum(w_i * x_i) / sum(w_i), weights
1..period (newest = period).

Price units. Computed with TA-Lib ``WMA``; the first ``period - 1`` bars are NaN. ``position``
compares the close with the average.
"""

import talib

from modules.base import BaseModule, as_float
from modules.common.series import MA_OUTPUTS, ma_params, position, price_source


class WMA(BaseModule):
    module_id = "wma"
    name = "Weighted Moving Average"
    category = "moving_averages"
    description = "Linearly weighted moving average of a price."
    params = ma_params(20)
    outputs = MA_OUTPUTS

    def compute(self, data, config):
        value = talib.WMA(price_source(data, config["source"]), timeperiod=config["period"])
        return {"value": value, "position": lambda: position(as_float(data, "close"), value)}
