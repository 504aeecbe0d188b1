"""Market structure shift: break of structure (BOS) and change of character (CHoCH).

On the chart: an uptrend makes higher highs; each close above the last swing high is a
**bullish break of structure** (the trend continues). When price instead closes below the last
swing low, the character changes: a **bearish CHoCH**, and the trend is now bearish. Mirror
for downtrends. ICT calls the first break against the trend, with displacement, a market
structure shift (Huddleston, "ICT Mentorship", 2016-2022; BOS/CHoCH names from the SMC
literature).

Rules, bar by bar (swings from :mod:`modules.common.swings`, ``left`` / ``right`` bars):

* The levels are the **last confirmed** swing high and swing low: a swing at bar ``i`` is
  usable from bar ``i + right`` on. Each level can be broken once.
* Bullish break at bar ``t``: ``close[t]`` (or ``high[t]`` with ``break_on = wick``) above the
  last swing high. It is a BOS if the trend was bullish or not yet set, a CHoCH if it was
  bearish. Bearish breaks mirror this on the last swing low.
* ``state`` is the trend after bar ``t``'s break, if any: ``bullish`` / ``bearish``, or
  ``neutral`` before the first break. Every output is known at the close of bar ``t``.

Difference from ``smartmoneyconcepts.smc.bos_choch``: that function classifies a break from
the pattern of the last four swings (and drops consecutive swings of one kind), which needs
swings confirmed after the break, and it marks the event on the swing bar, not the breaking
bar. Here a break is known at its own bar; the classification uses the trend so far. When fed
the same swings, every smc break whose level is still the last confirmed swing at its broken
bar is a break here at the same bar and level (tested).
"""

import numpy as np

from modules.base import BaseModule, Output, Param

from ._structure import BOS_DOWN, BOS_UP, CHOCH_DOWN, CHOCH_UP, ohlc, structure_breaks, swing_params, swings_of
from ._zones import codes_to_labels

EVENT_VALUES = ("bullish", "bearish", "none")


class MarketStructureShift(BaseModule):
    module_id = "market_structure_shift"
    name = "Market Structure Shift (BOS / CHoCH)"
    category = "ict"
    description = (
        "Trend from breaks of the last confirmed swing high/low: break of structure "
        "with the trend, change of character against it."
    )
    params = swing_params() + (
        Param(
            "break_on",
            "select",
            "close",
            title="Break Confirmed By",
            options=("close", "wick"),
            help="A level breaks on a close beyond it (standard) or on any wick beyond it.",
        ),
    )
    outputs = (
        Output(
            "state", "categorical", "trend after the last break", primary=True, values=("bullish", "bearish", "neutral")
        ),
        Output("bos", "categorical", "break of structure with the trend at this bar", values=EVENT_VALUES),
        Output(
            "choch", "categorical", "change of character (break against the trend) at this bar", values=EVENT_VALUES
        ),
        Output("level", "numeric", "the swing level broken at this bar (price), NaN otherwise"),
        Output("swing_high", "numeric", "last confirmed swing high (price)"),
        Output("swing_low", "numeric", "last confirmed swing low (price)"),
    )

    def compute(self, data, config):
        open_, high, low, close = ohlc(data)
        swings = swings_of(data, config)
        trend, event, level = structure_breaks(open_, high, low, close, swings, config["break_on"])
        state = np.where(trend == 1, 0, np.where(trend == -1, 1, 2))
        bos = np.where(event == BOS_UP, 0, np.where(event == BOS_DOWN, 1, 2))
        choch = np.where(event == CHOCH_UP, 0, np.where(event == CHOCH_DOWN, 1, 2))
        return {
            "state": codes_to_labels(state, ("bullish", "bearish", "neutral")),
            "bos": codes_to_labels(bos, EVENT_VALUES),
            "choch": codes_to_labels(choch, EVENT_VALUES),
            "level": level,
            "swing_high": swings.high_level,
            "swing_low": swings.low_level,
        }
