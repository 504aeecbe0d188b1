"""Bollinger Bands (John Bollinger, 1980s; "Bollinger on Bollinger Bands", 2001).

middle = SMA(source, period); upper/lower = middle +/- std_dev * population standard deviation
of the same window. Computed with TA-Lib ``BBANDS`` (matype SMA); the first ``period - 1`` bars
are NaN. %B = (close - lower) / (upper - lower): 0 at the lower band, 1 at the upper band
(0.5 when the bands have zero width). Bandwidth = (upper - lower) / middle, a fraction.
The primary output is %B, so ``bollinger_20_2 < 0`` means "close below the lower band".
"""
import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import SOURCE_HELP, SOURCES, labels, price_source


class Bollinger(BaseModule):
    module_id = "bollinger"
    name = "Bollinger Bands"
    category = "indicator"
    description = "Bollinger Bands: SMA with bands a number of standard deviations away, and %B."
    params = (
        Param("period", "integer", 20, title="Period", min=2, max=1000, step=1, key=True),
        Param("std_dev", "number", 2.0, title="Standard Deviations", min=0.1, max=10, step=0.1,
              key=True),
        Param("source", "select", "close", title="Source", options=SOURCES, help=SOURCE_HELP),
    )
    outputs = (
        Output("percent_b", "numeric", "%B: where close sits in the bands, 0 = lower, 1 = upper",
               primary=True),
        Output("upper", "numeric", "upper band, price units"),
        Output("middle", "numeric", "middle band (SMA), price units"),
        Output("lower", "numeric", "lower band, price units"),
        Output("bandwidth", "numeric", "(upper - lower) / middle, a fraction"),
        Output("zone", "categorical", "close above the upper band, below the lower band, or inside",
               values=("above_upper", "below_lower", "inside", "neutral")),
    )

    def compute(self, data, config):
        upper, middle, lower = talib.BBANDS(price_source(data, config["source"]),
                                            timeperiod=config["period"], nbdevup=config["std_dev"],
                                            nbdevdn=config["std_dev"], matype=0)
        close = as_float(data, "close")
        width = upper - lower
        with np.errstate(invalid="ignore", divide="ignore"):
            percent_b = np.where(width > 0, (close - lower) / width, 0.5)
            percent_b[np.isnan(width)] = np.nan
            bandwidth = np.where(middle != 0, width / middle, np.nan)
            zone = labels([(close > upper, "above_upper"), (close < lower, "below_lower"),
                           (width >= 0, "inside")], len(close), "neutral")
        return {"percent_b": percent_b, "upper": upper, "middle": middle, "lower": lower,
                "bandwidth": bandwidth, "zone": zone}
