"""Zero-lag EMA (John Ehlers and Ric Way, "Zero Lag (Well, Almost)", 2010; common ZLEMA form).

lag = (period - 1) // 2; ZLEMA = EMA(2 * source[t] - source[t - lag], period), with TA-Lib ``EMA``
(alpha = 2 / (period + 1), seeded with the mean of its first ``period`` inputs). Price units; the
first ``lag + period - 1`` bars are NaN. ``position`` compares the close with the average.
"""

import talib

from modules.base import BaseModule, as_float
from modules.common.series import MA_OUTPUTS, ma_params, position, price_source
from modules.common.swings_sr import lag


class ZLEMA(BaseModule):
    module_id = "zlema"
    name = "Zero-Lag EMA"
    category = "moving_averages"
    description = "Zero-Lag EMA: an EMA of price with its lag compensated by extrapolation."
    params = ma_params(20)
    outputs = MA_OUTPUTS

    def compute(self, data, config):
        price, period = price_source(data, config["source"]), config["period"]
        lagged = lag(price, (period - 1) // 2)  # NaN-padded; fine with fewer bars than the lag
        value = talib.EMA(2.0 * price - lagged, timeperiod=period)
        return {"value": value, "position": position(as_float(data, "close"), value)}
