"""Imbalance zones (ICT): volume imbalances and liquidity voids between consecutive candles.

On the chart: two neighbouring candles whose **bodies** do not overlap. If their wicks still
overlap, the gap between the bodies is a **volume imbalance**: price traded there only in
wicks. If even the wicks do not overlap (an opening gap), nothing traded there at all: a
**liquidity void**. Price tends to come back to fill them. Source: Huddleston, ICT Mentorship
(2016-2022).

Rules, known at the close of the second candle ``t``:

* bullish: ``bottom = max(open, close)[t-1]`` < ``top = min(open, close)[t]``; bearish:
  ``top = min(open, close)[t-1]`` > ``bottom = max(open, close)[t]``;
* it is a liquidity void if ``low[t] > high[t-1]`` (bullish) / ``high[t] < low[t-1]``
  (bearish), else a volume imbalance; ``kinds`` picks which are tracked;
* gaps smaller than ``min_size`` (price units) are ignored;
* active from ``t + 1`` until filled (``mitigation``; default ``wick`` = price trades to the
  far edge).

On markets whose every bar opens at the previous close (most FX and metal feeds) these appear
only at session and weekend gaps. Outputs as for the other zone modules: ``state`` /
``in_zone`` (the bar trades inside an active zone, the newest if several), its ``top`` /
``bottom`` (price, NaN otherwise), its ``kind``, and ``formed`` (a zone is born).
"""

import numpy as np

from modules.base import BaseModule, Output, Param

from ._structure import ohlc
from ._zones import EVENTS, MITIGATION_HELP, MITIGATION_MODES, STATES, codes_to_labels, make_zones, zone_outputs

KINDS = ("volume_imbalance", "liquidity_void", "none")


def imbalance_zones(open_, high, low, close, min_size, kinds):
    """``(bullish, bearish)`` as (zones, is_void) pairs, created at the second candle."""
    body_top, body_bottom = np.maximum(open_, close), np.minimum(open_, close)
    out = []
    for sign in (1, -1):
        if sign == 1:
            top, bottom = body_bottom[1:], body_top[:-1]
            void = low[1:] > high[:-1]
        else:
            top, bottom = body_bottom[:-1], body_top[1:]
            void = high[1:] < low[:-1]
        keep = (top - bottom > 0) & (top - bottom >= min_size)
        if kinds == "volume_imbalance":
            keep &= ~void
        elif kinds == "liquidity_void":
            keep &= void
        idx = np.flatnonzero(keep)
        out.append((make_zones(idx + 1, top[idx], bottom[idx]), void[idx]))
    return out


class ImbalanceZones(BaseModule):
    module_id = "imbalance_zones"
    name = "Imbalance Zones"
    category = "ict"
    description = (
        "Gaps between the bodies of consecutive candles (volume imbalances, liquidity "
        "voids), active until filled; is price trading inside one?"
    )
    params = (
        Param(
            "kinds",
            "select",
            "both",
            title="Kinds",
            options=("both", "volume_imbalance", "liquidity_void"),
            help="volume_imbalance = bodies apart, wicks overlap; liquidity_void = no overlap.",
        ),
        Param("min_size", "number", 0.0, title="Minimum Size (price)", min=0, max=1e6, step=0.01),
        Param("mitigation", "select", "wick", title="Filled By", options=MITIGATION_MODES, help=MITIGATION_HELP),
    )
    outputs = (
        Output("state", "categorical", "inside an active bullish / bearish imbalance", primary=True, values=STATES),
        Output("in_zone", "boolean", "inside any active imbalance"),
        Output("top", "numeric", "top of the imbalance price is in (price), NaN otherwise"),
        Output("bottom", "numeric", "bottom of the imbalance price is in (price), NaN otherwise"),
        Output("kind", "categorical", "kind of the imbalance price is in", values=KINDS),
        Output("formed", "categorical", "a new imbalance at this bar", values=EVENTS),
    )

    def compute(self, data, config):
        open_, high, low, close = ohlc(data)
        (bull, bull_void), (bear, bear_void) = imbalance_zones(
            open_, high, low, close, config["min_size"], config["kinds"]
        )
        out, bull_at, bear_at = zone_outputs((high, low, close), bull, bear, config["mitigation"], picks=True)
        kind = np.full(len(close), 2, dtype=np.int8)
        for at, void in ((bull_at, bull_void), (bear_at, bear_void)):
            mask = at >= 0
            kind[mask] = np.where(void[at[mask]], 1, 0)
        out["kind"] = codes_to_labels(kind, KINDS)
        return out
