"""TSI, True Strength Index (William Blau, 1991; "Momentum, Direction, and Divergence", 1995).

m = close[t] - close[t-1]; TSI = 100 * EMA(EMA(m, long), short) / EMA(EMA(|m|, long), short),
-100..100; signal = EMA(TSI, signal). EMAs are TA-Lib ``EMA`` (alpha = 2 / (n + 1), seeded with the
simple mean of the first n values, as TradingView's ``ta.ema``), so TSI starts at bar
``long + short - 1`` and the signal ``signal - 1`` bars later. TSI is 0 while price has not moved.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param
from modules.common.series import SOURCE_HELP, SOURCES, compare, price_source
from modules.errors import ModuleConfigError


def _double_ema(values: np.ndarray, long: int, short: int) -> np.ndarray:
    return talib.EMA(talib.EMA(values, timeperiod=long), timeperiod=short)


class TSI(BaseModule):
    module_id = "tsi"
    name = "True Strength Index"
    category = "momentum"
    description = "True Strength Index: double-smoothed momentum over its absolute value."
    params = (
        Param("long", "integer", 25, title="Long (first) Smoothing", min=2, max=500, step=1, key=True),
        Param("short", "integer", 13, title="Short (second) Smoothing", min=1, max=500, step=1, key=True),
        Param("signal", "integer", 13, title="Signal EMA Period", min=1, max=200, step=1, key=True),
        Param("source", "select", "close", title="Source", options=SOURCES, help=SOURCE_HELP),
    )
    outputs = (
        Output("value", "numeric", "TSI, -100..100", primary=True),
        Output("signal", "numeric", "EMA of TSI, -100..100"),
        Output(
            "trend",
            "categorical",
            "bullish when TSI is above its signal line",
            values=("bullish", "bearish", "neutral"),
        ),
    )

    @classmethod
    def check_config(cls, config):
        if config["short"] > config["long"]:
            raise ModuleConfigError(cls.module_id, "short", "short smoothing must not exceed the long smoothing")

    def compute(self, data, config):
        price = price_source(data, config["source"])
        change = np.full(len(price), np.nan)
        change[1:] = np.diff(price)
        num = _double_ema(change, config["long"], config["short"])
        den = _double_ema(np.abs(change), config["long"], config["short"])
        with np.errstate(invalid="ignore", divide="ignore"):
            tsi = np.where(den > 0, 100.0 * num / den, 0.0)
        tsi[np.isnan(den)] = np.nan
        signal = talib.EMA(tsi, timeperiod=config["signal"])
        trend = compare(tsi, signal, ("bullish", "bearish", "neutral"))
        return {"value": tsi, "signal": signal, "trend": trend}
