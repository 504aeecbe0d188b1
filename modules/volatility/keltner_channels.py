"""Keltner Channels (Chester Keltner, 1960; modern ATR form by Linda Bradford Raschke).

middle = EMA(close, period); upper/lower = middle +/- multiplier * ATR(atr_period).
EMA and ATR are TA-Lib's (EMA seeded with the SMA of its first ``period`` closes, ATR with
Wilder's smoothing). Price units. ``percent`` = (close - lower) / (upper - lower): 0 at the
lower band, 1 at the upper band, so ``keltner_channels_20_2 > 1`` means "close above the upper
band". NaN until both EMA and ATR are warmed up.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import labels


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
        upper = middle + config["multiplier"] * atr
        lower = middle - config["multiplier"] * atr
        width = upper - lower
        with np.errstate(invalid="ignore", divide="ignore"):
            percent = np.where(width > 0, (close - lower) / width, 0.5)
            percent[np.isnan(width)] = np.nan
            zone = labels(
                [(close > upper, "above_upper"), (close < lower, "below_lower"), (width >= 0, "inside")],
                len(close),
                "neutral",
            )
        return {"percent": percent, "upper": upper, "middle": middle, "lower": lower, "zone": zone}
