"""Bollinger Bands (John Bollinger, 1980s; "Bollinger on Bollinger Bands", 2001).

middle = SMA(source, period); upper/lower = middle +/- std_dev * population standard deviation
of the same window. Computed with TA-Lib ``BBANDS`` (matype SMA); the first ``period - 1`` bars
are NaN. %B = (close - lower) / (upper - lower): 0 at the lower band, 1 at the upper band
(0.5 when the bands have zero width). Bandwidth = (upper - lower) / middle, a fraction.
The primary output is %B, so ``bollinger_20_2 < 0`` means "close below the lower band".
%B, bandwidth and the zone come from one Numba pass over TA-Lib's bands.
"""

import functools

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.common.series import SOURCE_HELP, SOURCES, price_source

ZONES = ("above_upper", "below_lower", "inside", "neutral")


@njit(cache=True, nogil=True, error_model="numpy")
def _derived(close, upper, middle, lower):
    """%B (0.5 for zero width, NaN while warming up), bandwidth and zone codes (ZONES).

    Branchless selects (``error_model="numpy"``: no zero-division checks) so LLVM vectorises
    the loop; the discarded quotients never reach the outputs."""
    n = close.shape[0]
    percent_b = np.empty(n)
    bandwidth = np.empty(n)
    zone = np.empty(n, dtype=np.int8)
    for t in range(n):
        up = upper[t]
        lo = lower[t]
        c = close[t]
        mid = middle[t]
        width = up - lo
        pb = (c - lo) / width
        pb = pb if width > 0.0 else 0.5
        percent_b[t] = pb if width == width else np.nan
        bw = width / mid
        bandwidth[t] = bw if mid != 0.0 else np.nan
        above = np.int8(c > up)
        below = np.int8(c < lo) * (1 - above)
        inside = np.int8(width >= 0.0) * (1 - above - below)
        zone[t] = 3 - 3 * above - 2 * below - inside
    return percent_b, bandwidth, zone


class Bollinger(BaseModule):
    module_id = "bollinger"
    name = "Bollinger Bands"
    category = "indicator"
    description = "Bollinger Bands: SMA with bands a number of standard deviations away, and %B."
    params = (
        Param("period", "integer", 20, title="Period", min=2, max=1000, step=1, key=True),
        Param("std_dev", "number", 2.0, title="Standard Deviations", min=0.1, max=10, step=0.1, key=True),
        Param("source", "select", "close", title="Source", options=SOURCES, help=SOURCE_HELP),
    )
    outputs = (
        Output("percent_b", "numeric", "%B: where close sits in the bands, 0 = lower, 1 = upper", primary=True),
        Output("upper", "numeric", "upper band, price units"),
        Output("middle", "numeric", "middle band (SMA), price units"),
        Output("lower", "numeric", "lower band, price units"),
        Output("bandwidth", "numeric", "(upper - lower) / middle, a fraction"),
        Output("zone", "categorical", "close above the upper band, below the lower band, or inside", values=ZONES),
    )

    def compute(self, data, config):
        upper, middle, lower = talib.BBANDS(
            price_source(data, config["source"]),
            timeperiod=config["period"],
            nbdevup=config["std_dev"],
            nbdevdn=config["std_dev"],
            matype=talib.MA_Type.SMA,
        )
        # %B, bandwidth and zone: one pass for the three, only if one of them is asked for
        derived = functools.cache(lambda: _derived(as_float(data, "close"), upper, middle, lower))
        return {
            "percent_b": lambda: derived()[0],
            "upper": upper,
            "middle": middle,
            "lower": lower,
            "bandwidth": lambda: derived()[1],
            "zone": lambda: labels_from_codes(derived()[2], ZONES),
        }
