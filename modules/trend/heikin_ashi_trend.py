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

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes


@njit(cache=True, nogil=True, inline="always")
def _maximum(a, b):
    """``np.maximum`` of two floats: NaN if either is NaN (a select, no branch)."""
    return a if (a >= b) | (a != a) else b


@njit(cache=True, nogil=True, inline="always")
def _minimum(a, b):
    """``np.minimum`` of two floats: NaN if either is NaN (a select, no branch)."""
    return a if (a <= b) | (a != a) else b


@njit(cache=True, nogil=True)
def _candles(open_, high, low, close, confirm):
    """Every output in one pass over the bars: HA open/high/low/close, the signed streak,
    ``strong`` and the trend codes (0 bullish, 1 bearish, 2 neutral). Branchless: flags as
    integers and bitwise ``&``/``|`` (a candle's colour is a coin toss, which a branch
    mispredicts half the time); the HA open from the previous candle kept in registers."""
    n = open_.shape[0]
    ha_open = np.empty(n)
    ha_high = np.empty(n)
    ha_low = np.empty(n)
    ha_close = np.empty(n)
    streak = np.empty(n)
    strong = np.empty(n, dtype=np.bool_)
    trend = np.empty(n, dtype=np.int8)
    prev_sign = np.int64(0)
    run = np.int64(0)
    o = 0.0
    c = 0.0
    for t in range(n):
        o = (open_[0] + close[0]) / 2.0 if t == 0 else (o + c) / 2.0  # the previous candle's o, c
        c = (open_[t] + high[t] + low[t] + close[t]) / 4.0
        h = _maximum(high[t], _maximum(o, c))
        lo = _minimum(low[t], _minimum(o, c))
        sign = np.int64(c - o > 0.0) - np.int64(c - o < 0.0)  # 0 for a doji or NaN
        run = run * np.int64((sign == prev_sign) & (t > 0)) + 1
        prev_sign = sign
        s = float(run * sign)
        ha_open[t] = o
        ha_high[t] = h
        ha_low[t] = lo
        ha_close[t] = c
        streak[t] = s
        strong[t] = ((sign > 0) & (lo >= o)) | ((sign < 0) & (h <= o))
        trend[t] = 2 - 2 * np.int8(s >= confirm) - np.int8(s <= -confirm)  # confirm >= 1: not both
    return ha_open, ha_high, ha_low, ha_close, streak, strong, trend


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
        ha_open, ha_high, ha_low, ha_close, streak, strong, trend = _candles(
            as_float(data, "open"),
            as_float(data, "high"),
            as_float(data, "low"),
            as_float(data, "close"),
            config["confirm"],
        )
        return {
            "trend": labels_from_codes(trend, ("bullish", "bearish", "neutral")),
            "streak": streak,
            "strong": strong,
            "ha_open": ha_open,
            "ha_high": ha_high,
            "ha_low": ha_low,
            "ha_close": ha_close,
        }
