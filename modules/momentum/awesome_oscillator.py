"""Awesome Oscillator (Bill Williams, "New Trading Dimensions", 1998).

median price = (high + low) / 2; AO = SMA(median, fast) - SMA(median, slow), price units.
The first ``slow - 1`` bars are NaN. ``bar`` is rising (green) when AO is above the previous
bar's AO, falling (red) when below. SMAs via TA-Lib ``SMA``.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare
from modules.errors import ModuleConfigError


class AwesomeOscillator(BaseModule):
    module_id = "awesome_oscillator"
    name = "Awesome Oscillator"
    category = "momentum"
    description = "Awesome Oscillator: fast minus slow SMA of the bar midpoint, in price units."
    params = (
        Param("fast", "integer", 5, title="Fast SMA Period", min=1, max=200, step=1, key=True),
        Param("slow", "integer", 34, title="Slow SMA Period", min=2, max=500, step=1, key=True),
    )
    outputs = (
        Output("value", "numeric", "AO, price units", primary=True),
        Output(
            "bar",
            "categorical",
            "rising (green) / falling (red) versus the previous bar",
            values=("rising", "falling", "neutral"),
        ),
    )

    @classmethod
    def check_config(cls, config):
        if config["fast"] >= config["slow"]:
            raise ModuleConfigError(cls.module_id, "fast", "fast period must be below the slow period")

    def compute(self, data, config):
        median = (as_float(data, "high") + as_float(data, "low")) / 2.0
        ao = talib.SMA(median, timeperiod=config["fast"]) - talib.SMA(median, timeperiod=config["slow"])
        previous = np.full(len(ao), np.nan)
        previous[1:] = ao[:-1]
        bar = compare(ao, previous, ("rising", "falling", "neutral"))
        return {"value": ao, "bar": bar}
