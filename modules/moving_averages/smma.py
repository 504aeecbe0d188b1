"""Smoothed moving average (SMMA, Wilder's RMA; J. Welles Wilder, 1978).

SMMA[t] = (SMMA[t-1] * (period - 1) + source[t]) / period, i.e. an EMA with alpha = 1 / period,
seeded with the simple mean of the first ``period`` values (Numba kernel in
``modules.common.smoothing``). Price units; the first ``period - 1`` bars are NaN.
``position`` compares the close with the average.
"""

from modules.base import BaseModule, as_float
from modules.common.series import MA_OUTPUTS, ma_params, position, price_source
from modules.common.smoothing import smma


class SMMA(BaseModule):
    module_id = "smma"
    name = "Smoothed Moving Average"
    category = "moving_averages"
    description = "Smoothed Moving Average (Wilder's RMA): a slow EMA with alpha = 1 / period."
    params = ma_params(20, min_period=1)
    outputs = MA_OUTPUTS

    def compute(self, data, config):
        value = smma(price_source(data, config["source"]), config["period"])
        return {"value": value, "position": position(as_float(data, "close"), value)}
