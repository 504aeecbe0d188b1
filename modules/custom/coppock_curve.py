"""Coppock Curve (Edwin Coppock, Barron's, 1962).

Coppock = WMA( ROC(close, long_roc) + ROC(close, short_roc), wma_period ), ROC in percent
(TA-Lib ``ROC`` and ``WMA``). Designed on monthly closes with 14, 11 and 10; the classic buy
signal is the curve turning up while below zero. NaN for the first long_roc + wma_period - 1
bars. ``direction`` rising/falling versus the bar before; ``zone`` above/below zero.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare
from modules.common.swings_sr import lag
from modules.errors import ModuleConfigError


class CoppockCurve(BaseModule):
    module_id = "coppock_curve"
    name = "Coppock Curve"
    category = "custom"
    description = "Weighted average of two rates of change: long-term momentum turns."
    requires = ("close",)
    params = (
        Param("long_roc", "integer", 14, title="Long ROC Period", min=2, max=500, step=1, key=True),
        Param("short_roc", "integer", 11, title="Short ROC Period", min=1, max=500, step=1, key=True),
        Param("wma_period", "integer", 10, title="WMA Period", min=1, max=500, step=1, key=True),
    )
    outputs = (
        Output("value", "numeric", "Coppock Curve, percent", primary=True),
        Output(
            "direction",
            "categorical",
            "curve rising or falling versus the bar before",
            values=("rising", "falling", "neutral"),
        ),
        Output("zone", "categorical", "curve above or below zero", values=("above", "below", "neutral")),
    )

    @classmethod
    def check_config(cls, config):
        if config["short_roc"] >= config["long_roc"]:
            raise ModuleConfigError(cls.module_id, "short_roc", "must be below long_roc")

    def compute(self, data, config):
        close = as_float(data, "close")
        roc = talib.ROC(close, config["long_roc"]) + talib.ROC(close, config["short_roc"])
        curve = talib.WMA(roc, config["wma_period"])
        prev = lag(curve)
        with np.errstate(invalid="ignore"):
            direction = compare(curve, prev, ("rising", "falling", "neutral"))
            zone = compare(curve, 0, ("above", "below", "neutral"))
        return {"value": curve, "direction": direction, "zone": zone}
