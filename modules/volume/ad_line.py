"""Accumulation/Distribution line (Marc Chaikin, 1970s).

money flow multiplier MFM = ((close - low) - (high - close)) / (high - low), 0 when
high == low; A/D_t = A/D_{t-1} + MFM_t * volume_t, from the first bar (TA-Lib ``AD``). Only its
changes matter, not its level. ``signal`` = SMA(A/D, signal_period); ``trend`` is "rising"
(accumulation) above the signal, "falling" (distribution) below. Units: volume.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare


class ADLine(BaseModule):
    module_id = "ad_line"
    name = "Accumulation/Distribution Line"
    category = "volume"
    description = "Running total of volume weighted by where each bar closes in its range."
    requires = ("high", "low", "close", "volume")
    params = (Param("signal_period", "integer", 20, title="Signal SMA Period", min=2, max=1000, step=1, key=True),)
    outputs = (
        Output("value", "numeric", "A/D line, volume units (cumulative from the first bar)", primary=True),
        Output("signal", "numeric", "SMA of the A/D line, volume units"),
        Output(
            "trend",
            "categorical",
            "A/D above (rising) or below (falling) its signal",
            values=("rising", "falling", "neutral"),
        ),
    )

    def compute(self, data, config):
        ad = talib.AD(as_float(data, "high"), as_float(data, "low"), as_float(data, "close"), as_float(data, "volume"))
        signal = talib.SMA(ad, timeperiod=config["signal_period"])
        return {"value": ad, "signal": signal, "trend": lambda: compare(ad, signal, ("rising", "falling", "neutral"))}
