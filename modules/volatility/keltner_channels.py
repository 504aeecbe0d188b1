"""Keltner Channels (Chester Keltner, 1960; modern ATR form by Linda Bradford Raschke).

middle = EMA(close, period); upper/lower = middle +/- multiplier * ATR(atr_period).
EMA and ATR are TA-Lib's (EMA seeded with the SMA of its first ``period`` closes, ATR with
Wilder's smoothing). Price units. ``percent`` = (close - lower) / (upper - lower): 0 at the
lower band, 1 at the upper band, so ``keltner_channels_20_2 > 1`` means "close above the upper
band". NaN until both EMA and ATR are warmed up.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes


class KeltnerChannels(BaseModule):
    module_id = "keltner_channels"
    name = "Keltner Channels"
    category = "volatility"
    description = "EMA with bands a multiple of ATR away; where the close sits in the channel."
    params = (
        Param("period", "integer", 20, title="EMA Period", min=1, max=1000, step=1, key=True),
        Param("multiplier", "number", 2.0, title="ATR Multiplier", min=0.1, max=10, step=0.1, key=True),
        Param("atr_period", "integer", 10, title="ATR Period", min=1, max=500, step=1),
    )
    outputs = (
        Output("percent", "numeric", "where close sits: 0 = lower band, 1 = upper band", primary=True),
        Output("upper", "numeric", "upper band, price units"),
        Output("middle", "numeric", "middle line (EMA), price units"),
        Output("lower", "numeric", "lower band, price units"),
        Output(
            "zone",
            "categorical",
            "close above the upper band, below the lower band, or inside",
            values=("above_upper", "below_lower", "inside", "neutral"),
        ),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        middle = talib.EMA(close, timeperiod=config["period"])
        atr = talib.ATR(high, low, close, timeperiod=config["atr_period"])
        upper, lower, percent, zone = _channel(close, middle, atr, config["multiplier"])
        return {
            "percent": percent,
            "upper": upper,
            "middle": middle,
            "lower": lower,
            "zone": labels_from_codes(zone, ("above_upper", "below_lower", "inside", "neutral")),
        }


@njit(cache=True, nogil=True)
def _channel(close, middle, atr, multiplier):
    """Bands middle +/- multiplier * ATR, %B (0.5 on a zero width, NaN on a NaN one) and the
    zone code: 0 above the upper band, 1 below the lower, 2 inside, 3 neutral (NaN)."""
    n = close.shape[0]
    upper = np.empty(n)
    lower = np.empty(n)
    percent = np.empty(n)
    zone = np.empty(n, dtype=np.int8)
    for t in range(n):
        up = middle[t] + multiplier * atr[t]
        down = middle[t] - multiplier * atr[t]
        width = up - down
        upper[t] = up
        lower[t] = down
        if width > 0:
            percent[t] = (close[t] - down) / width
        else:
            percent[t] = np.nan if width != width else 0.5
        c = close[t]
        zone[t] = 0 if c > up else (1 if c < down else (2 if width >= 0 else 3))
    return upper, lower, percent, zone
