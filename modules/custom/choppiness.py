"""Choppiness Index (E. W. "Bill" Dreiss, 1990s).

CHOP = 100 * log10( sum(TR, n) / (highest high(n) - lowest low(n)) ) / log10(n), between 0
and 100: near 100 the bars overlap (sideways, choppy market), near 0 price moves in one
direction (trending). TR is the true range (TA-Lib ``TRANGE``; the first bar uses high - low,
as TradingView's ``atr(1)``). Sums, highs and lows with TA-Lib ``SUM``/``MAX``/``MIN``. NaN
for the first ``period - 1`` bars and on a zero-range window. Dreiss's Fibonacci thresholds:
above 61.8 choppy, below 38.2 trending.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import labels
from modules.errors import ModuleConfigError


class Choppiness(BaseModule):
    module_id = "choppiness"
    name = "Choppiness Index"
    category = "custom"
    description = "Is the market trending (low) or moving sideways (high)? 0-100."
    params = (
        Param("period", "integer", 14, title="Period", min=2, max=1000, step=1, key=True),
        Param("choppy_level", "number", 61.8, title="Choppy Above", min=1, max=99, step=0.1),
        Param("trending_level", "number", 38.2, title="Trending Below", min=1, max=99, step=0.1),
    )
    outputs = (
        Output("value", "numeric", "Choppiness Index, 0-100", primary=True),
        Output(
            "regime",
            "categorical",
            "choppy above choppy_level, trending below trending_level",
            values=("choppy", "trending", "neutral"),
        ),
    )

    @classmethod
    def check_config(cls, config):
        if config["trending_level"] >= config["choppy_level"]:
            raise ModuleConfigError(cls.module_id, "trending_level", "must be below choppy_level")

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        n = config["period"]
        true_range = talib.TRANGE(high, low, close)
        if len(close):
            true_range[0] = high[0] - low[0]
        span = talib.MAX(high, n) - talib.MIN(low, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            chop = np.where(span > 0, 100.0 * np.log10(talib.SUM(true_range, n) / span) / np.log10(n), np.nan)
            regime = labels(
                [(chop > config["choppy_level"], "choppy"), (chop < config["trending_level"], "trending")],
                len(chop),
                "neutral",
            )
        return {"value": chop, "regime": regime}
