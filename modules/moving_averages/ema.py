"""Exponential moving average (EMA): EMA[t] = alpha * source[t] + (1 - alpha) * EMA[t-1],
alpha = 2 / (period + 1).

Price units. Computed with TA-Lib ``EMA``; seeded with the simple mean of the first ``period``
values (TA-Lib convention); the first ``period - 1`` bars are NaN. ``position`` compares the close
with the average.
"""

import talib

from modules.base import BaseModule, as_float
from modules.common.series import MA_OUTPUTS, ma_params, position, price_source


class EMA(BaseModule):
    module_id = "ema"
    name = "Exponential Moving Average"
    category = "moving_averages"
    description = "Exponential Moving Average of a price."
    params = ma_params(20)
    outputs = MA_OUTPUTS

    def compute(self, data, config):
        value = talib.EMA(price_source(data, config["source"]), timeperiod=config["period"])
        return {"value": value, "position": lambda: position(as_float(data, "close"), value)}
