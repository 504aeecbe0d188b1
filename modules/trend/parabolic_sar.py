"""Parabolic SAR, stop and reverse (J. Welles Wilder, 1978).

SAR[t] = SAR[t-1] + AF * (EP - SAR[t-1]), EP = extreme point of the current trend, AF starts at
``acceleration``, grows by it at each new EP up to ``maximum``; the trend reverses when price
crosses the SAR. Computed with TA-Lib ``SAR``; the first bar is NaN. Price units.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import labels
from modules.errors import ModuleConfigError


class ParabolicSAR(BaseModule):
    module_id = "parabolic_sar"
    name = "Parabolic SAR"
    category = "trend"
    description = "Parabolic Stop And Reverse: trailing stop that accelerates with the trend."
    params = (
        Param("acceleration", "number", 0.02, title="Acceleration Step", min=0.001, max=0.5, step=0.001, key=True),
        Param("maximum", "number", 0.2, title="Maximum Acceleration", min=0.01, max=1, step=0.01, key=True),
    )
    outputs = (
        Output("value", "numeric", "SAR level, price units", primary=True),
        Output(
            "direction",
            "categorical",
            "bullish when close is above the SAR, bearish below",
            values=("bullish", "bearish", "neutral"),
        ),
        Output("reversal", "boolean", "direction flipped on this bar"),
    )

    @classmethod
    def check_config(cls, config):
        if config["acceleration"] > config["maximum"]:
            raise ModuleConfigError(cls.module_id, "acceleration", "acceleration step must not exceed the maximum")

    def compute(self, data, config):
        sar = talib.SAR(
            as_float(data, "high"),
            as_float(data, "low"),
            acceleration=config["acceleration"],
            maximum=config["maximum"],
        )
        close = as_float(data, "close")
        bull, bear = close > sar, close < sar
        reversal = np.zeros(len(sar), dtype=bool)
        reversal[1:] = (bull[1:] & bear[:-1]) | (bear[1:] & bull[:-1])
        direction = labels([(bull, "bullish"), (bear, "bearish")], len(sar), "neutral")
        return {"value": sar, "direction": direction, "reversal": reversal}
