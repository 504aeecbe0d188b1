"""Bollinger BandWidth and the Squeeze (John Bollinger, "Bollinger on Bollinger Bands", 2001).

BandWidth = (upper - lower) / middle of TA-Lib ``BBANDS`` (SMA middle, population standard
deviation), as a percent of the middle band. The Squeeze is on when BandWidth is at its lowest
of the last ``squeeze_lookback`` bars (Bollinger uses about six months, 125 daily bars): low
volatility that tends to precede a large move. NaN / False during warm-up.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.common.swings_sr import rolling_min


class BollingerWidth(BaseModule):
    module_id = "bollinger_width"
    name = "Bollinger BandWidth"
    category = "volatility"
    description = "Width of the Bollinger Bands relative to the middle band, and the Squeeze."
    requires = ("close",)
    params = (
        Param("period", "integer", 20, title="Period", min=2, max=1000, step=1, key=True),
        Param("std_dev", "number", 2.0, title="Standard Deviations", min=0.1, max=10, step=0.1, key=True),
        Param(
            "squeeze_lookback",
            "integer",
            125,
            title="Squeeze Lookback",
            min=2,
            max=5000,
            step=1,
            help="Squeeze = BandWidth at its lowest of this many bars.",
        ),
    )
    outputs = (
        Output("value", "numeric", "BandWidth, percent of the middle band", primary=True),
        Output("squeeze", "boolean", "BandWidth at its lowest of squeeze_lookback bars"),
        Output(
            "trend",
            "categorical",
            "BandWidth wider (expanding) or narrower than a bar ago",
            values=("expanding", "contracting", "neutral"),
        ),
    )

    def compute(self, data, config):
        upper, middle, lower = talib.BBANDS(
            as_float(data, "close"),
            timeperiod=config["period"],
            nbdevup=config["std_dev"],
            nbdevdn=config["std_dev"],
            matype=talib.MA_Type.SMA,
        )
        width = _width(upper, middle, lower)
        squeeze, trend = _squeeze(width, rolling_min(width, config["squeeze_lookback"]))
        return {
            "value": width,
            "squeeze": squeeze,
            "trend": labels_from_codes(trend, ("expanding", "contracting", "neutral")),
        }


@njit(cache=True, nogil=True)
def _width(upper, middle, lower):
    """100 (upper - lower) / middle, NaN where the middle is 0."""
    n = middle.shape[0]
    width = np.empty(n)
    for t in range(n):
        width[t] = 100.0 * (upper[t] - lower[t]) / middle[t] if middle[t] != 0 else np.nan
    return width


@njit(cache=True, nogil=True)
def _squeeze(width, lowest):
    """Squeeze (width at its lowest of the lookback) and the trend code versus the bar before:
    0 expanding, 1 contracting, 2 neutral (equal or NaN)."""
    n = width.shape[0]
    squeeze = np.empty(n, dtype=np.bool_)
    trend = np.empty(n, dtype=np.int8)
    prev = np.nan
    for t in range(n):
        w = width[t]
        squeeze[t] = w <= lowest[t]
        trend[t] = 0 if w > prev else (1 if w < prev else 2)
        prev = w
    return squeeze, trend
