"""Momentum: price change over ``period`` bars, MOM = source[t] - source[t - period].

Price units. Computed with TA-Lib ``MOM``; the first ``period`` bars are NaN. Its sign is its
direction: "momentum up" is the condition ``momentum_indicator > 0``.
"""

import talib

from modules.base import BaseModule, Output, Param
from modules.common.series import SOURCE_HELP, SOURCES, price_source


class Momentum(BaseModule):
    module_id = "momentum_indicator"
    name = "Momentum"
    category = "momentum"
    description = "Momentum: price now minus price a number of bars ago, in price units."
    params = (
        Param("period", "integer", 10, title="Period", min=1, max=1000, step=1, key=True),
        Param("source", "select", "close", title="Source", options=SOURCES, help=SOURCE_HELP),
    )
    outputs = (Output("value", "numeric", "price change over the period, price units (> 0: up)", primary=True),)

    def compute(self, data, config):
        mom = talib.MOM(price_source(data, config["source"]), timeperiod=config["period"])
        return {"value": mom}
