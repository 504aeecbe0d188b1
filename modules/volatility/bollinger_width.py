"""Bollinger BandWidth and the Squeeze (John Bollinger, "Bollinger on Bollinger Bands", 2001).

BandWidth = (upper - lower) / middle of TA-Lib ``BBANDS`` (SMA middle, population standard
deviation), as a percent of the middle band. The Squeeze is on when BandWidth is at its lowest
of the last ``squeeze_lookback`` bars (Bollinger uses about six months, 125 daily bars): low
volatility that tends to precede a large move. NaN / False during warm-up.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare
from modules.common.swings_sr import lag, rolling_min


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
        with np.errstate(invalid="ignore", divide="ignore"):
            width = np.where(middle != 0, 100.0 * (upper - lower) / middle, np.nan)
            lowest = rolling_min(width, config["squeeze_lookback"])
            squeeze = width <= lowest
            prev = lag(width)
            trend = compare(width, prev, ("expanding", "contracting", "neutral"))
        return {"value": width, "squeeze": squeeze, "trend": trend}
