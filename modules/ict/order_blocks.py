"""Order blocks (ICT): the last opposite-colour candle before a displacement that breaks structure.

On the chart: price drifts down, prints a last down-close candle, then displaces up strongly
and closes above the last swing high. That last down candle is a **bullish order block**: the
zone where the move's orders were placed; price returning into it is a buying opportunity.
Mirror: the last up-close candle before a bearish displacement that breaks a swing low is a
**bearish order block**. Source: Huddleston, ICT Mentorship (2016-2022).

Rules, known at the close of the breaking bar ``t``:

* a bullish structure break at ``t``: the close goes above the last confirmed swing high (as in
  ``market_structure_shift``, swings usable ``right`` bars after the swing bar);
* the block candle ``j`` is the last bearish candle before ``t``;
* with ``require_displacement``, a bullish displacement (body >= ``multiplier`` x ATR, body /
  range >= ``min_body_ratio``, see ``displacement``) ends in ``(j, t]``;
* the zone is candle ``j``'s high-low range (``zone = wick``) or its body; each candle gives
  one block at most. It is active from ``t + 1`` until mitigated (``mitigation``).

``state`` / ``in_zone``: the bar trades inside an active bullish / bearish block (the newest if
several); ``top`` / ``bottom`` are that block's edges (price), NaN when not in one; ``formed``
flags the breaking bar at which a block is drawn.

Difference from ``smartmoneyconcepts.smc.ob``: smc takes the candle with the lowest low between
the last swing high and the break, whatever its colour, uses that swing from its own bar (before
it is confirmed) and marks the block on the candle's bar, before the break that defines it; here
the block is the last opposite-colour candle and appears at the close of the break.
"""

from modules.base import BaseModule, Output, Param

from ._structure import (
    DISPLACEMENT_PARAMS,
    displacement,
    ohlc,
    order_block_zones,
    structure_breaks,
    swing_params,
    swings_of,
)
from ._zones import EVENTS, MITIGATION_HELP, MITIGATION_MODES, STATES, make_zones, zone_outputs

ORDER_BLOCK_PARAMS = (
    swing_params()
    + (
        Param(
            "require_displacement",
            "boolean",
            True,
            title="Require Displacement",
            help="Only blocks whose breaking move contains a displacement candle.",
        ),
    )
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
    )
)


def find_order_blocks(data, config):
    """``(arrays, bullish, bearish)``: (open, high, low, close) and the blocks as (created,
    top, bottom, candle) tuples; a block is drawn at the close of its structure break."""
    arrays = ohlc(data)
    open_, high, low, close = arrays
    _, event, _ = structure_breaks(open_, high, low, close, swings_of(data, config))
    direction = None
    if config["require_displacement"]:
        direction, _, _ = displacement(
            open_,
            high,
            low,
            close,
            config["atr_period"],
            config["multiplier"],
            config["min_body_ratio"],
            config["max_run"],
        )
    bull, bear = order_block_zones(open_, high, low, close, event, direction, config["zone"])
    return arrays, bull, bear


class OrderBlocks(BaseModule):
    module_id = "order_blocks"
    name = "Order Blocks"
    category = "ict"
    description = (
        "Last opposite-colour candle before a displacement that breaks structure, "
        "active until mitigated; is price trading inside one?"
    )
    params = ORDER_BLOCK_PARAMS + (
        Param("mitigation", "select", "close", title="Mitigated By", options=MITIGATION_MODES, help=MITIGATION_HELP),
    )
    outputs = (
        Output("state", "categorical", "inside an active bullish / bearish order block", primary=True, values=STATES),
        Output("in_zone", "boolean", "inside any active order block"),
        Output("top", "numeric", "top of the block price is in (price), NaN otherwise"),
        Output("bottom", "numeric", "bottom of the block price is in (price), NaN otherwise"),
        Output("formed", "categorical", "a new block drawn at this bar", values=EVENTS),
    )

    def compute(self, data, config):
        (_, high, low, close), bull, bear = find_order_blocks(data, config)
        return zone_outputs((high, low, close), make_zones(*bull[:3]), make_zones(*bear[:3]), config["mitigation"])
