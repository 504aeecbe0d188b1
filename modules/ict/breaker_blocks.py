"""Breaker blocks (ICT): an order block that price closed through, with flipped polarity.

On the chart: a bullish order block forms when price breaks a swing high (running the stops
above it), but the move fails and a candle closes below the block. The failed demand zone is
now a **bearish breaker**: price coming back up into it is a place to sell. Mirror: a bearish
order block closed through upwards becomes a **bullish breaker**. Source: Huddleston, ICT
Mentorship (2016-2022).

Rules: order blocks exactly as in ``order_blocks`` (same parameters). A bullish block drawn at
bar ``c`` becomes a bearish breaker at the first bar ``m > c`` whose close is below the block's
bottom (known at the close of ``m``); the breaker keeps the block's top and bottom and is
active from ``m + 1`` until mitigated (``mitigation``, now on the other side: a bearish breaker
fails on a close above its top). Because an order block's leg broke a swing, it took the
liquidity beyond it before failing; a failed block whose leg did not is a mitigation block
(``mitigation_blocks``).

``state`` / ``in_zone``: the bar trades inside an active bullish / bearish breaker (the newest
if several); ``top`` / ``bottom`` its edges (price), NaN otherwise; ``formed`` flags the bar a
block is closed through and becomes a breaker.
"""

from modules.base import BaseModule, Output, Param

from ._zones import EVENTS, MITIGATION_HELP, MITIGATION_MODES, STATES, first_close_through, make_zones, zone_outputs
from .order_blocks import ORDER_BLOCK_PARAMS, find_order_blocks


def flipped(block, close, bullish):
    """Blocks of one direction closed through, as zones of the other direction."""
    zones = make_zones(*block[:3])
    through = first_close_through(zones, close, bullish)
    ok = through >= 0
    return make_zones(through[ok], zones.top[ok], zones.bottom[ok])


class BreakerBlocks(BaseModule):
    module_id = "breaker_blocks"
    name = "Breaker Blocks"
    category = "ict"
    description = (
        "Order blocks that price closed through, now acting the other way "
        "(failed demand becomes supply); is price trading inside one?"
    )
    params = ORDER_BLOCK_PARAMS + (
        Param(
            "mitigation",
            "select",
            "close",
            title="Breaker Mitigated By",
            options=MITIGATION_MODES,
            help=MITIGATION_HELP,
        ),
    )
    outputs = (
        Output("state", "categorical", "inside an active bullish / bearish breaker", primary=True, values=STATES),
        Output("in_zone", "boolean", "inside any active breaker"),
        Output("top", "numeric", "top of the breaker price is in (price), NaN otherwise"),
        Output("bottom", "numeric", "bottom of the breaker price is in (price), NaN otherwise"),
        Output("formed", "categorical", "an order block became a breaker at this bar", values=EVENTS),
    )

    def compute(self, data, config):
        (_, high, low, close), bull, bear = find_order_blocks(data, config)
        bullish_breakers = flipped(bear, close, bullish=False)
        bearish_breakers = flipped(bull, close, bullish=True)
        return zone_outputs((high, low, close), bullish_breakers, bearish_breakers, config["mitigation"])
