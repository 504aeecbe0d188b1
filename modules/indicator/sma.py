"""SMA, simple moving average: the arithmetic mean of the last ``period`` values of ``source``.

Computed with TA-Lib ``SMA``; the first ``period - 1`` bars are NaN.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float


class SMA(BaseModule):
    module_id = "sma"
    name = "SMA"
    category = "indicator"
    description = "Simple Moving Average of a price column."
    params = (
        Param("period", "integer", 20, title="Period", min=1, max=1000, step=1, key=True),
        Param("source", "select", "close", title="Source", options=("close", "open", "high", "low")),
    )
    outputs = (Output("value", "numeric", "moving average, in price units", primary=True),)

    def compute(self, data, config):
        return {"value": talib.SMA(as_float(data, config["source"]), timeperiod=config["period"])}
