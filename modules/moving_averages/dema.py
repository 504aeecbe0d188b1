"""Double exponential moving average (Patrick Mulloy, 1994): DEMA = 2 * EMA - EMA(EMA).

Price units. Computed with TA-Lib ``DEMA``; the first ``2 * (period - 1)`` bars are NaN.
``position`` compares the close with the average.
"""

import talib

from modules.base import BaseModule, as_float
from modules.common.series import MA_OUTPUTS, ma_params, position, price_source


class DEMA(BaseModule):
    module_id = "dema"
    name = "Double EMA"
    category = "moving_averages"
    description = "Double Exponential Moving Average: an EMA with less lag."
    params = ma_params(20)
    outputs = MA_OUTPUTS

    def compute(self, data, config):
        value = talib.DEMA(price_source(data, config["source"]), timeperiod=config["period"])
        return {"value": value, "position": lambda: position(as_float(data, "close"), value)}
