"""Triple exponential moving average (Patrick Mulloy, 1994): TEMA = 3 * EMA - 3 * EMA(EMA) +
EMA(EMA(EMA)).

Price units. Computed with TA-Lib ``TEMA``; the first ``3 * (period - 1)`` bars are NaN.
``position`` compares the close with the average.
"""

import talib

from modules.base import BaseModule, as_float
from modules.common.series import MA_OUTPUTS, ma_params, position, price_source


class TEMA(BaseModule):
    module_id = "tema"
    name = "Triple EMA"
    category = "moving_averages"
    description = "Triple Exponential Moving Average: an EMA with even less lag."
    params = ma_params(20)
    outputs = MA_OUTPUTS

    def compute(self, data, config):
        value = talib.TEMA(price_source(data, config["source"]), timeperiod=config["period"])
        return {"value": value, "position": lambda: position(as_float(data, "close"), value)}
