"""Liquidity sweeps (stop hunts): a wick beyond a prior swing, then a close back inside.

On the chart: stops rest above old swing highs (buy-side liquidity) and below old swing lows
(sell-side liquidity), most of all above **equal highs** / below **equal lows**. A candle that
spikes above such a high and closes back below it has *swept* the buy-side liquidity: a
**bearish sweep** (smart money sold into the stops). A wick below a swing low with a close back
above it is a **bullish sweep**. Source: Huddleston, ICT Mentorship (2016-2022).

Rules (swings from :mod:`modules.common.swings`, each usable from its confirmation bar
``pivot + right`` on):

* Every confirmed swing high is a pool of buy-side liquidity until a later high trades above
  it (``high > level``); it is then gone, whether swept or broken. Same for swing lows.
* Two or more pools within ``equal_tolerance`` x ATR(14) (at the newer one's confirmation) are
  **equal highs / lows**.
* Bearish sweep at bar ``t``: ``high[t]`` takes one or more pools and ``close[t]`` is below the
  highest level taken. Bullish sweep mirrors it. With ``pools = equal_only`` only equal
  highs/lows count. If one bar sweeps both sides, its colour decides.
* ``state`` is the sweep at this bar (event, known at its close); ``level`` the swept level
  (price); ``equal`` whether it was an equal-highs/lows pool; ``last`` and ``bars_since`` keep
  the direction of, and bars since, the most recent sweep (``bars_since`` is 0 on the sweep bar,
  NaN before the first).
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param

from ._structure import last_index, ohlc, swing_params, swings_of
from ._zones import codes_to_labels


@njit(cache=True)
def _sweeps(price, close, new_pool, tol, right, equal_only):
    """One side (buy-side: pools above price). Returns (swept level, equal flag) per bar."""
    n = price.shape[0]
    levels = np.empty(n, dtype=np.float64)
    equal = np.zeros(n, dtype=np.bool_)
    size = 0
    out_level = np.full(n, np.nan)
    out_equal = np.zeros(n, dtype=np.bool_)
    for t in range(n):
        if new_pool[t]:
            lvl = price[t - right]
            eq = False
            if size > 0 and levels[size - 1] - lvl <= tol[t]:
                equal[size - 1] = True
                eq = True
            levels[size] = lvl
            equal[size] = eq
            size += 1
        best = np.nan
        best_eq = False
        while size > 0 and levels[size - 1] < price[t]:  # the stack is sorted, lowest on top
            size -= 1
            if equal[size] or not equal_only:
                best = levels[size]  # taken pools are popped low to high
                best_eq = equal[size]
        if best == best and close[t] < best:
            out_level[t] = best
            out_equal[t] = best_eq
    return out_level, out_equal


class LiquiditySweep(BaseModule):
    module_id = "liquidity_sweep"
    name = "Liquidity Sweep"
    category = "ict"
    description = (
        "A wick beyond a prior swing high/low (or equal highs/lows) that closes back "
        "inside: buy-side sweep = bearish, sell-side sweep = bullish."
    )
    params = swing_params() + (
        Param(
            "equal_tolerance",
            "number",
            0.1,
            title="Equal Highs/Lows Tolerance (x ATR)",
            min=0,
            max=5,
            step=0.05,
            help="Swings this close (in ATR(14)) count as equal.",
        ),
        Param(
            "pools",
            "select",
            "all",
            title="Liquidity Pools",
            options=("all", "equal_only"),
            help="Sweeps of any swing, or of equal highs/lows only.",
        ),
    )
    outputs = (
        Output(
            "state",
            "categorical",
            "sweep at this bar: bullish (lows swept) / bearish (highs)",
            primary=True,
            values=("bullish", "bearish", "none"),
        ),
        Output("level", "numeric", "level swept at this bar (price), NaN otherwise"),
        Output("equal", "boolean", "the swept level was equal highs / lows"),
        Output("last", "categorical", "direction of the most recent sweep", values=("bullish", "bearish", "none")),
        Output("bars_since", "numeric", "bars since the most recent sweep (0 = this bar)"),
    )

    def compute(self, data, config):
        open_, high, low, close = ohlc(data)
        sw = swings_of(data, config)
        tol = talib.ATR(high, low, close, timeperiod=14) * config["equal_tolerance"]
        tol = np.where(np.isnan(tol), 0.0, tol)
        equal_only = config["pools"] == "equal_only"
        bear_level, bear_eq = _sweeps(high, close, sw.new_high, tol, sw.right, equal_only)
        bull_level, bull_eq = _sweeps(-low, -close, sw.new_low, tol, sw.right, equal_only)
        bear = ~np.isnan(bear_level)
        bull = ~np.isnan(bull_level)
        both = bear & bull
        bull &= ~both | (close >= open_)
        bear &= ~bull
        n = len(close)
        state = np.where(bull, 0, np.where(bear, 1, 2))
        level = np.where(bull, -bull_level, np.where(bear, bear_level, np.nan))
        last_bar = last_index(bull | bear)
        seen = last_bar >= 0
        last = np.where(seen, state[np.maximum(last_bar, 0)], 2)
        return {
            "state": codes_to_labels(state, ("bullish", "bearish", "none")),
            "level": level,
            "equal": (bull & bull_eq) | (bear & bear_eq),
            "last": codes_to_labels(last, ("bullish", "bearish", "none")),
            "bars_since": np.where(seen, np.arange(n) - last_bar, np.nan),
        }
