"""Premium / discount zones and the optimal trade entry (ICT).

On the chart: draw the dealing range from the last swing low to the last swing high. Above
its 50% line (equilibrium) price is at a **premium** (sell from there), below it at a
**discount** (buy from there). The **optimal trade entry** (OTE) is the 62-79% Fibonacci
retracement of the last leg: after a leg up (swing low, then swing high) it is the band 62-79%
down from the high, i.e. at 21-38% of the range (bullish OTE); after a leg down it is 62-79%
up from the low (bearish OTE). Source: Huddleston, ICT Mentorship (2016-2022).

Formula, at bar ``t`` (swings from :mod:`modules.common.swings`, known ``right`` bars after
the swing bar, so the range uses only swings confirmed by ``t``):

* ``range_high`` / ``range_low``: last confirmed swing high / low (price).
* ``position = 100 * (close - range_low) / (range_high - range_low)`` (percent; below 0 or above
  100 when price has left the range).
* ``state``: ``equilibrium`` if ``|position - 50| <= equilibrium_band / 2``, else ``premium``
  above, ``discount`` below; ``none`` until both swings exist or if the high is not above the
  low.
* ``ote``: leg up (swing high more recent than swing low) and ``100 - position`` between
  ``ote_min`` and ``ote_max`` -> ``bullish``; leg down and ``position`` in that band ->
  ``bearish``.

Every output is known at the close of bar ``t``; the range jumps at the bar a new swing is
confirmed, not at the swing's own bar.
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param
from modules.errors import ModuleConfigError

from ._structure import ohlc, swing_params, swings_of
from ._zones import codes_to_labels


class PremiumDiscountZones(BaseModule):
    module_id = "premium_discount_zones"
    name = "Premium / Discount Zones"
    category = "ict"
    description = (
        "Where the close sits in the dealing range between the last confirmed swing "
        "high and low: premium, discount, equilibrium, and the 62-79% OTE band."
    )
    params = swing_params() + (
        Param(
            "equilibrium_band",
            "number",
            5.0,
            title="Equilibrium Band (%)",
            min=0,
            max=50,
            step=0.5,
            help="Width of the band around 50% of the range counted as equilibrium.",
        ),
        Param("ote_min", "number", 62.0, title="OTE From (% retracement)", min=0, max=100, step=0.5),
        Param("ote_max", "number", 79.0, title="OTE To (% retracement)", min=0, max=100, step=0.5),
    )
    outputs = (
        Output(
            "state",
            "categorical",
            "premium / discount / equilibrium of the dealing range",
            primary=True,
            values=("premium", "discount", "equilibrium", "none"),
        ),
        Output(
            "ote",
            "categorical",
            "in the optimal trade entry band of the last leg",
            values=("bullish", "bearish", "none"),
        ),
        Output("position", "numeric", "close as percent of the dealing range (0 = low, 100 = high)"),
        Output("range_high", "numeric", "last confirmed swing high (price)"),
        Output("range_low", "numeric", "last confirmed swing low (price)"),
        Output("equilibrium", "numeric", "middle of the dealing range (price)"),
    )

    @classmethod
    def check_config(cls, config):
        if config["ote_min"] >= config["ote_max"]:
            raise ModuleConfigError(cls.module_id, "ote_min", "must be below ote_max")

    def compute(self, data, config):
        close = ohlc(data)[3]
        sw = swings_of(data, config)
        state, ote, position, range_high, range_low, equilibrium = _zones(
            close,
            sw.high_level,
            sw.low_level,
            sw.high_bar,
            sw.low_bar,
            config["equilibrium_band"] / 2.0,
            config["ote_min"],
            config["ote_max"],
        )
        return {
            "state": codes_to_labels(state, ("premium", "discount", "equilibrium", "none")),
            "ote": codes_to_labels(ote, ("bullish", "bearish", "none")),
            "position": position,
            "range_high": range_high,
            "range_low": range_low,
            "equilibrium": equilibrium,
        }


@njit(cache=True, nogil=True)
def _zones(close, hi, lo, high_bar, low_bar, half, ote_min, ote_max):
    """Per bar, in one pass: state code (0 premium, 1 discount, 2 equilibrium, 3 none), OTE code
    (0 bullish, 1 bearish, 2 none), position in the range (percent) and the range's high, low
    and middle (NaN without a valid range: no swing yet, or the high not above the low)."""
    n = close.shape[0]
    state = np.empty(n, dtype=np.int8)
    ote = np.empty(n, dtype=np.int8)
    position = np.empty(n)
    range_high = np.empty(n)
    range_low = np.empty(n)
    equilibrium = np.empty(n)
    for t in range(n):
        h = hi[t]
        low = lo[t]
        if not h > low:
            state[t] = 3
            ote[t] = 2
            position[t] = np.nan
            range_high[t] = np.nan
            range_low[t] = np.nan
            equilibrium[t] = np.nan
            continue
        p = 100.0 * (close[t] - low) / (h - low)
        position[t] = p
        range_high[t] = h
        range_low[t] = low
        equilibrium[t] = (h + low) / 2.0
        state[t] = 2 if abs(p - 50.0) <= half else (0 if p > 50.0 else 1)
        leg_up = high_bar[t] > low_bar[t]
        retrace = 100.0 - p if leg_up else p
        if retrace >= ote_min and retrace <= ote_max:
            ote[t] = 0 if leg_up else 1
        else:
            ote[t] = 2
    return state, ote, position, range_high, range_low, equilibrium
