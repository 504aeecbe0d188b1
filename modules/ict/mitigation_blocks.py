"""Mitigation blocks (ICT): a failed block whose move did not take liquidity first.

On the chart: price displaces up from a last down-close candle, but the rally stalls below
the previous swing high (a lower high: no stops above it were run) and then a candle closes
below that down candle. The failed demand candle is a **bearish mitigation block**: traders
who bought there are trapped and "mitigate" (exit) when price returns to it, so price coming
back up into it is a place to sell. Mirror: a last up-close candle before a bearish
displacement, a higher low that does not take the previous swing low, then a close above the
candle: **bullish mitigation block**. It is a breaker block without the liquidity sweep
(Huddleston, ICT Mentorship, 2016-2022; compare ``breaker_blocks``).

Rules, for the bullish-candidate side (mirror for the other):

* at a bullish displacement ending at bar ``d`` (see ``displacement``), the candidate candle
  ``j`` is the last bearish candle before it, and ``H`` the last swing high confirmed by ``d``;
* the candidate is dropped as soon as any bar after ``j`` trades above ``H`` (liquidity taken);
* otherwise the first bar ``m > d`` closing below candle ``j`` turns it into a bearish
  mitigation block, known at the close of ``m``, with the candle's range (or body) as zone,
  active from ``m + 1`` until mitigated (``mitigation``). A bar that both trades above ``H`` and
  closes below the candle counts as a sweep (no block).

Outputs as for the other zone modules: ``state`` / ``in_zone`` (the bar trades inside an active
block), its ``top`` / ``bottom`` (price, NaN otherwise) and ``formed`` (a block is born).
"""

import numpy as np

from modules.base import BaseModule, Output, Param

from ._structure import DISPLACEMENT_PARAMS, displacement, last_index, ohlc, shift, swing_params, swings_of
from ._zones import EVENTS, MITIGATION_HELP, MITIGATION_MODES, STATES, first_above, make_zones, zone_outputs


def _blocks(sign, arrays, disp, liquidity, zone_type):
    """Mitigation blocks from candidates of direction ``sign``, as zones of the other side."""
    open_, high, low, close = arrays
    opposite = close < open_ if sign == 1 else close > open_
    last_opp = shift(last_index(opposite).astype(np.float64), 1)
    d = np.flatnonzero(disp == sign)
    j, level = last_opp[d], liquidity[d]
    ok = np.isfinite(j) & (j >= 0) & np.isfinite(level)
    d, j, level = d[ok], j[ok].astype(np.int64), level[ok]
    first = np.ones(len(j), dtype=bool)
    first[1:] = j[1:] != j[:-1]  # one candidate per candle
    d, j, level = d[first], j[first], level[first]
    if zone_type == "wick":
        top, bottom = high[j], low[j]
    else:
        top, bottom = np.maximum(open_[j], close[j]), np.minimum(open_[j], close[j])
    if sign == 1:  # liquidity above H taken / close below the candle
        swept = first_above(j, level, high)
        failed = first_above(d, -bottom, -close)
    else:
        swept = first_above(j, -level, -low)
        failed = first_above(d, top, close)
    keep = (failed >= 0) & ((swept < 0) | (swept > failed))
    return make_zones(failed[keep], top[keep], bottom[keep])


class MitigationBlocks(BaseModule):
    module_id = "mitigation_blocks"
    name = "Mitigation Blocks"
    category = "ict"
    description = (
        "Last opposite candle before a displacement that failed without taking the "
        "previous swing (no liquidity sweep), closed through and flipped."
    )
    params = (
        swing_params()
        + DISPLACEMENT_PARAMS
        + (
            Param(
                "zone",
                "select",
                "wick",
                title="Block Zone",
                options=("wick", "body"),
                help="The block is the candle's full high-low range, or its body only.",
            ),
            Param(
                "mitigation", "select", "close", title="Mitigated By", options=MITIGATION_MODES, help=MITIGATION_HELP
            ),
        )
    )
    outputs = (
        Output(
            "state", "categorical", "inside an active bullish / bearish mitigation block", primary=True, values=STATES
        ),
        Output("in_zone", "boolean", "inside any active mitigation block"),
        Output("top", "numeric", "top of the block price is in (price), NaN otherwise"),
        Output("bottom", "numeric", "bottom of the block price is in (price), NaN otherwise"),
        Output("formed", "categorical", "a mitigation block is born at this bar", values=EVENTS),
    )

    def compute(self, data, config):
        arrays = ohlc(data)
        open_, high, low, close = arrays
        sw = swings_of(data, config)
        disp, _, _ = displacement(
            open_,
            high,
            low,
            close,
            config["atr_period"],
            config["multiplier"],
            config["min_body_ratio"],
            config["max_run"],
        )
        bearish = _blocks(1, arrays, disp, sw.high_level, config["zone"])
        bullish = _blocks(-1, arrays, disp, sw.low_level, config["zone"])
        return zone_outputs((high, low, close), bullish, bearish, config["mitigation"])
