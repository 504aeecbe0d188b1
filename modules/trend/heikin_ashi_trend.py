"""Heikin-Ashi trend: colour and streak of Heikin-Ashi candles (Munehisa Homma; Dan Valcu, 2004).

HA close = (open + high + low + close) / 4; HA open = (previous HA open + previous HA close) / 2,
started at (open + close) / 2 on the first bar; HA high = max(high, HA open, HA close),
HA low = min(low, HA open, HA close). Price units.
A candle is bullish when HA close > HA open, bearish when below. ``streak`` counts consecutive
candles of the same colour (+n bullish, -n bearish, 0 for a doji). ``trend`` is bullish/bearish
once the streak reaches ``confirm`` candles, else neutral. ``strong`` marks a bullish candle with
no lower shadow or a bearish one with no upper shadow.
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import labels


@njit(cache=True)
def _ha_open(open_, close, ha_close):
    out = np.empty(open_.shape[0])
    if out.shape[0] == 0:
        return out
    out[0] = (open_[0] + close[0]) / 2.0
    for t in range(1, out.shape[0]):
        out[t] = (out[t - 1] + ha_close[t - 1]) / 2.0
    return out


def signed_streak(sign: np.ndarray) -> np.ndarray:
    """Run length of equal signs, signed (+3 = third bullish bar in a row); 0 where sign is 0."""
    n = len(sign)
    starts = np.ones(n, dtype=bool)
    starts[1:] = sign[1:] != sign[:-1]
    index = np.arange(n)
    run_start = np.maximum.accumulate(np.where(starts, index, 0))
    return ((index - run_start + 1) * sign).astype(np.float64)


class HeikinAshiTrend(BaseModule):
    module_id = "heikin_ashi_trend"
    name = "Heikin-Ashi Trend"
    category = "trend"
    description = "Heikin-Ashi candles: trend colour, streak length and the smoothed candle prices."
    params = (
        Param(
            "confirm",
            "integer",
            1,
            title="Confirmation Candles",
            min=1,
            max=50,
            step=1,
            key=True,
            help="Same-colour candles in a row needed before a trend is reported.",
        ),
    )
    outputs = (
        Output(
            "trend",
            "categorical",
            "bullish / bearish after `confirm` same-colour candles",
            values=("bullish", "bearish", "neutral"),
            primary=True,
        ),
        Output("streak", "numeric", "consecutive same-colour candles, + bullish / - bearish"),
        Output("strong", "boolean", "bullish without lower shadow or bearish without upper shadow"),
        Output("ha_open", "numeric", "Heikin-Ashi open, price units"),
        Output("ha_high", "numeric", "Heikin-Ashi high, price units"),
        Output("ha_low", "numeric", "Heikin-Ashi low, price units"),
        Output("ha_close", "numeric", "Heikin-Ashi close, price units"),
    )

    def compute(self, data, config):
        open_, high = as_float(data, "open"), as_float(data, "high")
        low, close = as_float(data, "low"), as_float(data, "close")
        ha_close = (open_ + high + low + close) / 4.0
        ha_open = _ha_open(open_, close, ha_close)
        ha_high = np.maximum(high, np.maximum(ha_open, ha_close))
        ha_low = np.minimum(low, np.minimum(ha_open, ha_close))
        sign = np.sign(ha_close - ha_open)
        sign[np.isnan(sign)] = 0
        streak = signed_streak(sign.astype(np.int8))
        confirm = config["confirm"]
        trend = labels([(streak >= confirm, "bullish"), (streak <= -confirm, "bearish")], len(streak), "neutral")
        strong = ((sign > 0) & (ha_low >= ha_open)) | ((sign < 0) & (ha_high <= ha_open))
        return {
            "trend": trend,
            "streak": streak,
            "strong": strong,
            "ha_open": ha_open,
            "ha_high": ha_high,
            "ha_low": ha_low,
            "ha_close": ha_close,
        }
