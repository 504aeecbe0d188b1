"""MFI, Money Flow Index (Gene Quong and Avrum Soudack, 1989): a volume-weighted RSI.

Raw money flow = typical price * volume, typical price = (high + low + close) / 3; positive/negative
flow = sums over ``period`` of the flows on bars whose typical price rose/fell;
MFI = 100 - 100 / (1 + positive / negative). Values 0-100. Computed with TA-Lib ``MFI``; the first
``period`` bars are NaN.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import ZONE_OUTPUT, LevelsCheck, zones


class MFI(LevelsCheck, BaseModule):
    module_id = "mfi"
    name = "Money Flow Index"
    category = "momentum"
    description = "Money Flow Index: RSI of typical price weighted by volume, 0-100."
    requires = ("high", "low", "close", "volume")
    params = (
        Param("period", "integer", 14, title="MFI Period", min=2, max=500, step=1, key=True),
        Param("overbought", "number", 80, title="Overbought Level", min=50, max=100, step=1),
        Param("oversold", "number", 20, title="Oversold Level", min=0, max=50, step=1),
    )
    outputs = (
        Output("value", "numeric", "MFI value, 0-100", primary=True),
        ZONE_OUTPUT,
    )

    def compute(self, data, config):
        mfi = talib.MFI(
            as_float(data, "high"),
            as_float(data, "low"),
            as_float(data, "close"),
            as_float(data, "volume"),
            timeperiod=config["period"],
        )
        return {"value": mfi, "zone": lambda: zones(mfi, config["overbought"], config["oversold"])}
