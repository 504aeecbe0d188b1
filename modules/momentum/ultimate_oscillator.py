"""Ultimate Oscillator (Larry Williams, 1976).

BP = close - min(low, previous close), TR = max(high, previous close) - min(low, previous close);
A_n = sum(BP, n) / sum(TR, n); UO = 100 * (4 * A_short + 2 * A_medium + A_long) / 7. Values 0-100.
Computed with TA-Lib ``ULTOSC``; the first ``long`` bars are NaN.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import ZONE_OUTPUT, LevelsCheck, zones
from modules.errors import ModuleConfigError


class UltimateOscillator(LevelsCheck, BaseModule):
    module_id = "ultimate_oscillator"
    name = "Ultimate Oscillator"
    category = "momentum"
    description = "Ultimate Oscillator: buying pressure averaged over three time frames, 0-100."
    params = (
        Param("short", "integer", 7, title="Short Period", min=1, max=200, step=1, key=True),
        Param("medium", "integer", 14, title="Medium Period", min=2, max=300, step=1, key=True),
        Param("long", "integer", 28, title="Long Period", min=3, max=500, step=1, key=True),
        Param("overbought", "number", 70, title="Overbought Level", min=50, max=100, step=1),
        Param("oversold", "number", 30, title="Oversold Level", min=0, max=50, step=1),
    )
    outputs = (
        Output("value", "numeric", "Ultimate Oscillator, 0-100", primary=True),
        ZONE_OUTPUT,
    )

    @classmethod
    def check_config(cls, config):
        if not config["short"] < config["medium"] < config["long"]:
            raise ModuleConfigError(cls.module_id, "medium", "periods must satisfy short < medium < long")
        super().check_config(config)

    def compute(self, data, config):
        uo = talib.ULTOSC(
            as_float(data, "high"),
            as_float(data, "low"),
            as_float(data, "close"),
            timeperiod1=config["short"],
            timeperiod2=config["medium"],
            timeperiod3=config["long"],
        )
        return {"value": uo, "zone": lambda: zones(uo, config["overbought"], config["oversold"])}
