"""Ichimoku Kinko Hyo (Goichi Hosoda, 1969), without look-ahead.

Lines, each the midpoint (highest high + lowest low) / 2 of a window, price units:
tenkan (conversion) over ``tenkan`` bars, kijun (base) over ``kijun`` bars. The cloud is
senkou A = (tenkan + kijun) / 2 and senkou B = midpoint over ``senkou_b`` bars; charts plot both
``displacement`` bars ahead, so the cloud *at* bar t is the one computed at bar t - displacement
(here: shifted forward, never into the future). TradingView's script plots it
``displacement - 1`` bars ahead, so its cloud is one bar younger than this one.
The chikou (lagging) span is drawn ``displacement`` bars back on charts; at bar t that means
comparing close[t] with close[t - displacement], which is what ``chikou`` reports.
Midpoints use TA-Lib ``MIDPRICE``.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.errors import ModuleConfigError

_TREND = ("bullish", "bearish", "neutral")


class Ichimoku(BaseModule):
    module_id = "ichimoku"
    name = "Ichimoku Cloud"
    category = "trend"
    description = "Ichimoku Kinko Hyo: conversion and base lines and the cloud, without look-ahead."
    params = (
        Param("tenkan", "integer", 9, title="Conversion Line Period", min=2, max=200, step=1, key=True),
        Param("kijun", "integer", 26, title="Base Line Period", min=2, max=300, step=1, key=True),
        Param("senkou_b", "integer", 52, title="Leading Span B Period", min=2, max=500, step=1, key=True),
        Param(
            "displacement",
            "integer",
            26,
            title="Displacement",
            min=1,
            max=300,
            step=1,
            help="Bars the cloud is plotted ahead (and the lagging span behind).",
        ),
    )
    outputs = (
        Output(
            "position",
            "categorical",
            "close above, below or inside the cloud at this bar",
            values=("above_cloud", "below_cloud", "in_cloud", "neutral"),
            primary=True,
        ),
        Output("tenkan", "numeric", "conversion line, price units"),
        Output("kijun", "numeric", "base line, price units"),
        Output("senkou_a", "numeric", "leading span A of the cloud at this bar, price units"),
        Output("senkou_b", "numeric", "leading span B of the cloud at this bar, price units"),
        Output("cloud", "categorical", "bullish (green) when span A > span B, bearish (red) below", values=_TREND),
        Output(
            "chikou",
            "categorical",
            "lagging span: bullish when close > the close `displacement` bars ago",
            values=_TREND,
        ),
    )

    @classmethod
    def check_config(cls, config):
        if config["tenkan"] >= config["kijun"]:
            raise ModuleConfigError(cls.module_id, "tenkan", "conversion period must be below the base period")
        if config["kijun"] >= config["senkou_b"]:
            raise ModuleConfigError(cls.module_id, "senkou_b", "span B period must be above the base period")

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        shift = config["displacement"]
        tenkan = talib.MIDPRICE(high, low, timeperiod=config["tenkan"])
        kijun = talib.MIDPRICE(high, low, timeperiod=config["kijun"])
        span_a, span_b, position, cloud, chikou = _cloud(
            close, tenkan, kijun, talib.MIDPRICE(high, low, timeperiod=config["senkou_b"]), shift
        )
        return {
            "position": labels_from_codes(position, ("above_cloud", "below_cloud", "in_cloud", "neutral")),
            "tenkan": tenkan,
            "kijun": kijun,
            "senkou_a": span_a,
            "senkou_b": span_b,
            "cloud": labels_from_codes(cloud, _TREND),
            "chikou": labels_from_codes(chikou, _TREND),
        }


@njit(cache=True, nogil=True)
def _cloud(close, tenkan, kijun, senkou_b, shift):
    """Spans A ((tenkan + kijun) / 2) and B plotted ``shift`` bars ahead, so at bar t the values
    of bar t - shift (NaN before); codes: position (0 above the cloud, 1 below, 2 in, 3 neutral),
    cloud (0 span A above B, 1 below, 2 neutral) and chikou (the close against the close
    ``shift`` bars ago, same codes)."""
    n = close.shape[0]
    span_a = np.empty(n)
    span_b = np.empty(n)
    position = np.empty(n, dtype=np.int8)
    cloud = np.empty(n, dtype=np.int8)
    chikou = np.empty(n, dtype=np.int8)
    for t in range(n):
        c = close[t]
        if t >= shift:
            a = (tenkan[t - shift] + kijun[t - shift]) / 2.0
            b = senkou_b[t - shift]
            before = close[t - shift]
        else:
            a = np.nan
            b = np.nan
            before = np.nan
        span_a[t] = a
        span_b[t] = b
        if a != a or b != b:  # no cloud (np.maximum / np.minimum propagate NaN)
            position[t] = 3
        else:
            top = a if a > b else b
            bottom = b if a > b else a
            position[t] = 0 if c > top else (1 if c < bottom else (2 if c >= bottom else 3))
        cloud[t] = 0 if a > b else (1 if a < b else 2)
        chikou[t] = 0 if c > before else (1 if c < before else 2)
    return span_a, span_b, position, cloud, chikou
