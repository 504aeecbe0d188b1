"""Awesome Oscillator (Bill Williams, "New Trading Dimensions", 1998).

median price = (high + low) / 2; AO = SMA(median, fast) - SMA(median, slow), price units.
The first ``slow - 1`` bars are NaN. ``bar`` is rising (green) when AO is above the previous
bar's AO, falling (red) when below. SMAs via TA-Lib ``SMA``.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.common.series import median_price
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
        median = median_price(as_float(data, "high"), as_float(data, "low"))
        ao, bar = _oscillator(
            talib.SMA(median, timeperiod=config["fast"]), talib.SMA(median, timeperiod=config["slow"])
        )
        return {"value": ao, "bar": labels_from_codes(bar, ("rising", "falling", "neutral"))}


@njit(cache=True, nogil=True)
def _oscillator(fast, slow):
    """AO = fast - slow, and its bar code versus the bar before: 0 rising, 1 falling, 2 neutral
    (equal, NaN, first bar)."""
    n = fast.shape[0]
    ao = np.empty(n)
    bar = np.empty(n, dtype=np.int8)
    prev = np.nan
    for t in range(n):
        value = fast[t] - slow[t]
        ao[t] = value
        bar[t] = 0 if value > prev else (1 if value < prev else 2)
        prev = value
    return ao, bar
