"""Fair value gaps (FVG), the three-candle imbalance of ICT (Huddleston, ICT Mentorship).

On the chart: three candles where the middle one moves so fast that the wicks of the first
and third do not overlap. **Bullish FVG**: ``low[t] > high[t-2]``, the gap is the band
``[high[t-2], low[t]]`` left below price. **Bearish FVG**: ``high[t] < low[t-2]``, the band
``[high[t], low[t-2]]`` above price. Price often comes back to "rebalance" the gap.

* The gap is known at the close of the third candle ``t`` (``formed``), and is active from
  ``t + 1`` until mitigated (``mitigation``: a close beyond its far edge, a fill to its far
  edge, or any touch; see :mod:`modules.ict._zones`).
* ``min_size``: gaps smaller than this are ignored; in price ``points``, ``percent`` of the
  third candle's close, or ``atr`` multiples of ATR(14) at the third candle.
* ``state`` / ``in_zone``: the bar trades inside an active bullish / bearish gap (the newest if
  several); ``top`` / ``bottom`` are that gap's edges in price, NaN when not in one.

Difference from ``smartmoneyconcepts.smc.fvg``: smc marks the gap on the middle candle, one bar
before the third candle that defines it exists (look-ahead), and also requires the middle
candle's colour to match. Shifted to the third candle, its gaps are the same as here on data
without opening gaps (where the colour test is implied); its ``MitigatedIndex`` is this
module's ``touch`` mitigation (tested).
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param

from ._structure import ohlc
from ._zones import EVENTS, MITIGATION_HELP, MITIGATION_MODES, STATES, make_zones, zone_outputs


def fvg_zones(high, low, close, min_size=0.0, size_unit="points"):
    """Bullish and bearish gaps as :class:`Zones`, created at the third candle."""
    n = len(high)
    bull_gap = np.full(n, np.nan)
    bear_gap = np.full(n, np.nan)
    bull_gap[2:] = low[2:] - high[:-2]
    bear_gap[2:] = low[:-2] - high[2:]
    if min_size > 0:
        if size_unit == "points":
            threshold = np.full(n, min_size)
        elif size_unit == "percent":
            threshold = close * min_size / 100.0
        else:
            threshold = talib.ATR(high, low, close, timeperiod=14) * min_size
    else:
        threshold = np.zeros(n)
    with np.errstate(invalid="ignore"):
        bull = np.flatnonzero((bull_gap > 0) & (bull_gap >= threshold))
        bear = np.flatnonzero((bear_gap > 0) & (bear_gap >= threshold))
    return (make_zones(bull, low[bull], high[bull - 2]), make_zones(bear, low[bear - 2], high[bear]))


class FairValueGaps(BaseModule):
    module_id = "fair_value_gaps"
    name = "Fair Value Gaps"
    category = "ict"
    description = (
        "Three-candle gaps (low above the high two bars back, or high below the low), "
        "active until mitigated; is price trading inside one?"
    )
    params = (
        Param(
            "min_size",
            "number",
            0.0,
            title="Minimum Gap Size",
            min=0,
            max=1e6,
            step=0.1,
            key=True,
            help="Ignore gaps smaller than this (unit below); 0 keeps every gap.",
        ),
        Param(
            "size_unit",
            "select",
            "atr",
            title="Size Unit",
            options=("points", "percent", "atr"),
            help="points = price units, percent = % of close, atr = multiples of ATR(14).",
        ),
        Param("mitigation", "select", "close", title="Mitigated By", options=MITIGATION_MODES, help=MITIGATION_HELP),
    )
    outputs = (
        Output("state", "categorical", "inside an active bullish / bearish gap", primary=True, values=STATES),
        Output("in_zone", "boolean", "inside any active gap"),
        Output("top", "numeric", "top of the gap price is in (price), NaN otherwise"),
        Output("bottom", "numeric", "bottom of the gap price is in (price), NaN otherwise"),
        Output("formed", "categorical", "a new gap completed at this bar", values=EVENTS),
    )

    def compute(self, data, config):
        _, high, low, close = ohlc(data)
        bull, bear = fvg_zones(high, low, close, config["min_size"], config["size_unit"])
        return zone_outputs((high, low, close), bull, bear, config["mitigation"])
