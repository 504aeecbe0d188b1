"""Inducement (IDM): the first minor pullback of a leg, taken out before price reaches the POI.

On the chart: price breaks structure up and starts a new bullish leg. Its first small
pullback low looks like a great place for early buyers' stops; smart money *induces* them:
price dips below that minor low, takes their stops, and only then reaches the real point of
interest (POI: the discount half of the leg, where the order block sits) and rallies. Once the
inducement is taken, the setup at the POI is considered valid. Mirror for bearish legs.
(Smart-money-concepts terminology built on Huddleston's ICT Mentorship, 2016-2022.)

Rules, bar by bar (every output is known at the close of its bar):

* A leg starts at each structure break (as in ``market_structure_shift`` with ``left`` /
  ``right`` swings): bullish leg from a bullish break, origin = last confirmed major swing low.
* The inducement is the **first** minor swing low (``minor_left`` / ``minor_right`` bars, so
  known ``minor_right`` bars after it) whose swing bar lies in the leg. The POI is the leg's
  equilibrium ``(origin + highest high of the leg so far) / 2`` (``poi = equilibrium``) or its
  origin (``poi = origin``), fixed when the inducement is confirmed. If that first minor low is
  already at or below the POI, price reached the POI without an inducement: none this leg.
* ``taken`` (event): the first bar whose low trades below the inducement (it is above the POI,
  so this happens before or as price reaches the POI). ``state`` is then ``bullish`` until the
  next structure break starts a new leg. Bearish legs mirror all of this.
* ``level`` / ``poi``: the current leg's inducement and POI levels (price; NaN if none).
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param
from modules.common.swings import find_swings

from ._structure import ohlc, structure_breaks, swing_params, swings_of
from ._zones import codes_to_labels


@njit(cache=True)
def _inducement(event, major_low, major_high, minor_low, minor_high, minor_right, high, low, poi_origin):
    n = high.shape[0]
    state = np.zeros(n, dtype=np.int8)
    taken = np.zeros(n, dtype=np.int8)
    level_out = np.full(n, np.nan)
    poi_out = np.full(n, np.nan)
    leg = 0
    start = 0
    origin = np.nan
    extreme = np.nan
    idm = np.nan
    poi = np.nan
    done = True
    is_taken = False
    for t in range(n):
        if event[t] != 0:
            leg = 1 if event[t] > 0 else -1
            start = t
            origin = major_low[t] if leg == 1 else major_high[t]
            extreme = high[t] if leg == 1 else low[t]
            idm = np.nan
            poi = np.nan
            done = np.isnan(origin)  # no origin: nothing to look for
            is_taken = False
        elif leg == 1:
            extreme = max(extreme, high[t])
        elif leg == -1:
            extreme = min(extreme, low[t])
        pivot = t - minor_right
        if leg != 0 and not done and pivot >= start:
            new_swing = minor_low[t] if leg == 1 else minor_high[t]
            if new_swing:
                candidate = low[pivot] if leg == 1 else high[pivot]
                target = origin if poi_origin else (origin + extreme) / 2.0
                if leg * (candidate - target) > 0:
                    idm = candidate
                    poi = target
                done = True
        if idm == idm and not is_taken and ((leg == 1 and low[t] < idm) or (leg == -1 and high[t] > idm)):
            is_taken = True
            taken[t] = leg
        if is_taken:
            state[t] = leg
        level_out[t] = idm
        poi_out[t] = poi
    return state, taken, level_out, poi_out


class Inducement(BaseModule):
    module_id = "inducement"
    name = "Inducement (IDM)"
    category = "ict"
    description = (
        "The first minor swing of a new leg, taken out before price reaches the point "
        "of interest; after it, the leg's POI setup is valid."
    )
    params = swing_params() + (
        Param("minor_left", "integer", 1, title="Minor Swing Bars Left", min=1, max=50, step=1),
        Param("minor_right", "integer", 1, title="Minor Swing Bars Right", min=1, max=50, step=1),
        Param(
            "poi",
            "select",
            "equilibrium",
            title="Point Of Interest",
            options=("equilibrium", "origin"),
            help="The leg's 50% level, or its origin swing (where its order block sits).",
        ),
    )
    outputs = (
        Output(
            "state",
            "categorical",
            "inducement of the current leg has been taken",
            primary=True,
            values=("bullish", "bearish", "none"),
        ),
        Output("taken", "categorical", "the inducement is taken at this bar", values=("bullish", "bearish", "none")),
        Output("level", "numeric", "inducement level of the current leg (price)"),
        Output("poi", "numeric", "point of interest of the current leg (price)"),
    )

    def compute(self, data, config):
        open_, high, low, close = ohlc(data)
        major = swings_of(data, config)
        minor = find_swings(high, low, config["minor_left"], config["minor_right"])
        _, event, _ = structure_breaks(open_, high, low, close, major)
        state, taken, level, poi = _inducement(
            event,
            major.low_level,
            major.high_level,
            minor.new_low,
            minor.new_high,
            config["minor_right"],
            high,
            low,
            config["poi"] == "origin",
        )
        labels = ("bullish", "bearish", "none")
        to_code = np.array([1, 2, 0], dtype=np.int8)  # -1 -> bearish, 0 -> none, 1 -> bullish
        return {
            "state": codes_to_labels(to_code[state + 1], labels),
            "taken": codes_to_labels(to_code[taken + 1], labels),
            "level": level,
            "poi": poi,
        }
