"""TRIX, rate of change of a triple-smoothed EMA (Jack Hutson, 1980s).

TRIX = 100 * (EMA3[t] / EMA3[t-1] - 1), EMA3 = EMA(EMA(EMA(source, period))), in percent per bar.
Computed with TA-Lib ``TRIX``; the signal line is TA-Lib ``EMA`` of TRIX over ``signal``.
The first ``3 * (period - 1) + 1`` bars are NaN.
"""

import talib

from modules.base import BaseModule, Output, Param
from modules.common.series import SOURCE_HELP, SOURCES, compare, price_source


class TRIX(BaseModule):
    module_id = "trix"
    name = "TRIX"
    category = "trend"
    description = "TRIX: one-bar rate of change of a triple EMA, in percent."
    params = (
        Param("period", "integer", 15, title="TRIX Period", min=2, max=500, step=1, key=True),
        Param("signal", "integer", 9, title="Signal EMA Period", min=2, max=200, step=1, key=True),
        Param("source", "select", "close", title="Source", options=SOURCES, help=SOURCE_HELP),
    )
    outputs = (
        Output("value", "numeric", "TRIX, percent per bar", primary=True),
        Output("signal", "numeric", "EMA of TRIX, percent per bar"),
        Output(
            "trend",
            "categorical",
            "bullish when TRIX is above its signal line",
            values=("bullish", "bearish", "neutral"),
        ),
    )

    def compute(self, data, config):
        trix = talib.TRIX(price_source(data, config["source"]), timeperiod=config["period"])
        signal = talib.EMA(trix, timeperiod=config["signal"])
        return {
            "value": trix,
            "signal": signal,
            "trend": lambda: compare(trix, signal, ("bullish", "bearish", "neutral")),
        }
