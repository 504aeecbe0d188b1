"""Hull moving average (Alan Hull, 2005).

HMA = WMA(2 * WMA(source, period // 2) - WMA(source, period), floor(sqrt(period))), where WMA is
the linearly weighted average (TA-Lib ``WMA``). Price units; the first
``period + floor(sqrt(period)) - 2`` bars are NaN. ``position`` compares the close with the average.
"""

import math

import talib

from modules.base import BaseModule, as_float
from modules.common.series import MA_OUTPUTS, ma_params, position, price_source


class HullMA(BaseModule):
    module_id = "hull_ma"
    name = "Hull Moving Average"
    category = "moving_averages"
    description = "Hull Moving Average: a fast, smooth weighted average with little lag."
    params = ma_params(20)
    outputs = MA_OUTPUTS

    def compute(self, data, config):
        price, period = price_source(data, config["source"]), config["period"]
        raw = 2.0 * talib.WMA(price, timeperiod=period // 2) - talib.WMA(price, timeperiod=period)
        value = talib.WMA(raw, timeperiod=math.isqrt(period))
        return {"value": value, "position": position(as_float(data, "close"), value)}
