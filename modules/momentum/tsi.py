"""TSI, True Strength Index (William Blau, 1991; "Momentum, Direction, and Divergence", 1995).

m = close[t] - close[t-1]; TSI = 100 * EMA(EMA(m, long), short) / EMA(EMA(|m|, long), short),
-100..100; signal = EMA(TSI, signal). EMAs are TA-Lib ``EMA`` (alpha = 2 / (n + 1), seeded with the
simple mean of the first n values, as TradingView's ``ta.ema``), so TSI starts at bar
``long + short - 1`` and the signal ``signal - 1`` bars later. TSI is 0 while price has not moved.
"""

import numpy as np
import talib
from numba import njit

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
        change, size = _changes(price)
        tsi = _tsi(
            _double_ema(change, config["long"], config["short"]), _double_ema(size, config["long"], config["short"])
        )
        signal = talib.EMA(tsi, timeperiod=config["signal"])
        trend = compare(tsi, signal, ("bullish", "bearish", "neutral"))
        return {"value": tsi, "signal": signal, "trend": trend}


@njit(cache=True, nogil=True)
def _changes(price):
    """The price's change over the bar before and its absolute value (NaN on the first bar)."""
    n = price.shape[0]
    change = np.empty(n)
    size = np.empty(n)
    if n:
        change[0] = np.nan
        size[0] = np.nan
    for t in range(1, n):
        change[t] = price[t] - price[t - 1]
        size[t] = abs(change[t])
    return change, size


@njit(cache=True, nogil=True)
def _tsi(num, den):
    """100 num / den; 0 where den is 0, NaN where it is NaN; written over ``num`` (the caller's
    temporary, each value read at its own bar before it is replaced: no fresh array)."""
    n = num.shape[0]
    tsi = num
    for t in range(n):
        if den[t] > 0:
            tsi[t] = 100.0 * num[t] / den[t]
        else:
            tsi[t] = np.nan if den[t] != den[t] else 0.0
    return tsi
