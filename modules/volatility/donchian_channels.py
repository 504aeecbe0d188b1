"""Donchian Channels (Richard Donchian, 1960s; the Turtle Traders' breakout channel).

upper = highest high of the last ``period`` bars (current bar included), lower = lowest low,
middle = (upper + lower) / 2; price units, TA-Lib ``MAX``/``MIN``. ``percent`` = (close - lower)
/ (upper - lower), 0..1 (0.5 on a flat channel). ``breakout`` compares the close with the
channel of the *previous* ``period`` bars (the Turtle rule "close beyond the N-bar high"):
"up" above its upper, "down" below its lower, else "inside". NaN / "neutral" during warm-up.
Numba kernels for the channel's derived outputs and for ``breakout`` (``band_position``'s codes
against the channel one bar back, read in place instead of from lagged copies).
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.common.swings_sr import rolling_max, rolling_min


class DonchianChannels(BaseModule):
    module_id = "donchian_channels"
    name = "Donchian Channels"
    category = "volatility"
    description = "Highest high and lowest low of the last N bars, and channel breakouts."
    params = (Param("period", "integer", 20, title="Period", min=1, max=1000, step=1, key=True),)
    outputs = (
        Output("percent", "numeric", "where close sits: 0 = lowest low, 1 = highest high", primary=True),
        Output("upper", "numeric", "highest high of the period, price units"),
        Output("middle", "numeric", "(upper + lower) / 2, price units"),
        Output("lower", "numeric", "lowest low of the period, price units"),
        Output("width", "numeric", "upper - lower, price units"),
        Output(
            "breakout",
            "categorical",
            "close above the previous bar's upper (up), below its lower (down), or inside",
            values=("up", "down", "inside", "neutral"),
        ),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        upper = rolling_max(high, config["period"])
        lower = rolling_min(low, config["period"])
        width, percent, middle = _channel(close, upper, lower)
        return {
            "percent": percent,
            "upper": upper,
            "middle": middle,
            "lower": lower,
            "width": width,
            "breakout": lambda: labels_from_codes(
                _breakout_codes(close, upper, lower), ("up", "down", "inside", "neutral")
            ),
        }


@njit(cache=True, nogil=True)
def _channel(close, upper, lower):
    """Width, %B (0.5 on a zero width, NaN on a NaN one) and middle of the channel."""
    n = close.shape[0]
    width = np.empty(n)
    percent = np.empty(n)
    middle = np.empty(n)
    for t in range(n):
        w = upper[t] - lower[t]
        width[t] = w
        if w > 0:
            percent[t] = (close[t] - lower[t]) / w
        else:
            percent[t] = np.nan if w != w else 0.5
        middle[t] = (upper[t] + lower[t]) / 2
    return width, percent, middle


@njit(cache=True, nogil=True)
def _breakout_codes(close, upper, lower):
    """``band_position``'s codes of the close against the previous bar's channel: 0 above its
    upper, else 1 below its lower, else 2 where upper >= lower, else 3 (NaN; the first bar)."""
    n = close.shape[0]
    out = np.empty(n, dtype=np.int8)
    if n:
        out[0] = 3
    for t in range(1, n):
        x = close[t]
        top = upper[t - 1]
        bottom = lower[t - 1]
        above = np.int8(x > top)
        below = np.int8(x < bottom) * (1 - above)
        inside = np.int8(top >= bottom) * (1 - above - below)
        out[t] = 3 - 3 * above - 2 * below - inside
    return out
