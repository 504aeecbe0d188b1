"""NATR, Normalized Average True Range (TA-Lib; ATR after Wilder, 1978).

NATR = 100 * ATR(period) / close: the average bar range as a percent of price, so it compares
across instruments and price levels. Computed with TA-Lib ``NATR``; the first ``period`` bars
are NaN. ``regime`` is "high" when NATR is above its own SMA over ``regime_period`` bars.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare


class NATR(BaseModule):
    module_id = "natr"
    name = "Normalized ATR"
    category = "volatility"
    description = "Average True Range as a percent of the close price."
    params = (
        Param("period", "integer", 14, title="ATR Period", min=1, max=500, step=1, key=True),
        Param(
            "regime_period",
            "integer",
            100,
            title="Regime Average Period",
            min=2,
            max=5000,
            step=1,
            help="NATR above its SMA over this many bars = high volatility regime.",
        ),
    )
    outputs = (
        Output("value", "numeric", "NATR, percent of close", primary=True),
        Output("average", "numeric", "SMA of NATR over regime_period bars, percent"),
        Output("regime", "categorical", "high / low volatility versus its average", values=("high", "low", "neutral")),
    )

    def compute(self, data, config):
        natr = talib.NATR(
            as_float(data, "high"), as_float(data, "low"), as_float(data, "close"), timeperiod=config["period"]
        )
        average = talib.SMA(natr, timeperiod=config["regime_period"])
        return {
            "value": natr,
            "average": average,
            "regime": lambda: compare(natr, average, ("high", "low", "neutral"), ties="low"),
        }
