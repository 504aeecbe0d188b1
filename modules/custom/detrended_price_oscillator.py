"""Detrended Price Oscillator, look-ahead-free (non-centred) form.

The textbook DPO (William Blau / Stocks & Commodities) is centred: close_{t - k} - SMA_t with
k = period // 2 + 1, i.e. it compares an old close with a moving average that includes the
``k`` bars *after* it, which cannot be known at that bar. This module uses TradingView's
non-centred variant instead: DPO_t = close_t - SMA(close, period)_{t - k}, the SMA shifted back
``k`` bars, which needs only bars up to t. Price units; NaN for the first period - 1 + k bars.
It shows cycles shorter than ``period`` with the longer trend removed.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare
from modules.common.swings_sr import lag


class DetrendedPriceOscillator(BaseModule):
    module_id = "detrended_price_oscillator"
    name = "Detrended Price Oscillator"
    category = "custom"
    description = "Close minus a moving average shifted back half a period: short cycles."
    requires = ("close",)
    params = (Param("period", "integer", 21, title="Period", min=2, max=1000, step=1, key=True),)
    outputs = (
        Output("value", "numeric", "DPO, price units", primary=True),
        Output("zone", "categorical", "DPO above or below zero", values=("above", "below", "neutral")),
    )

    def compute(self, data, config):
        close = as_float(data, "close")
        shift = config["period"] // 2 + 1
        sma = talib.SMA(close, config["period"])
        dpo = close - lag(sma, shift)  # NaN-padded; fine with fewer bars than the shift
        with np.errstate(invalid="ignore"):
            zone = compare(dpo, 0, ("above", "below", "neutral"))
        return {"value": dpo, "zone": zone}
