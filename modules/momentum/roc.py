"""ROC, Rate of Change: 100 * (source[t] / source[t - period] - 1), in percent.

Computed with TA-Lib ``ROC``; the first ``period`` bars are NaN.
"""

import talib

from modules.base import BaseModule, Output, Param
from modules.common.series import SOURCE_HELP, SOURCES, price_source


class ROC(BaseModule):
    module_id = "roc"
    name = "Rate of Change"
    category = "momentum"
    description = "Rate of Change: percent price change over a number of bars."
    params = (
        Param("period", "integer", 10, title="Period", min=1, max=1000, step=1, key=True),
        Param("source", "select", "close", title="Source", options=SOURCES, help=SOURCE_HELP),
    )
    outputs = (Output("value", "numeric", "percent change over the period", primary=True),)

    def compute(self, data, config):
        price = price_source(data, config["source"])
        return {"value": talib.ROC(price, timeperiod=config["period"])}
