"""Chande Momentum Oscillator (Tushar Chande & Stanley Kroll, "The New Technical Trader", 1994).

With d = close_t - close_{t-1}: CMO = 100 * (Su - Sd) / (Su + Sd), Su = sum of the positive d
and Sd = sum of |negative d| over the last ``period`` bars (plain sums, as Chande and
TradingView; TA-Lib ``CMO`` uses Wilder smoothing instead and equals 2 * RSI - 100, so it is
not used). -100..100; 0 when prices did not move. NaN for the first ``period`` bars.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import zones
from modules.common.swings_sr import lag
from modules.errors import ModuleConfigError


class ChandeMomentum(BaseModule):
    module_id = "chande_momentum"
    name = "Chande Momentum Oscillator"
    category = "custom"
    description = "Up moves minus down moves over their total, -100 to 100."
    requires = ("close",)
    params = (
        Param("period", "integer", 9, title="Period", min=2, max=500, step=1, key=True),
        Param("overbought", "number", 50, title="Overbought Level", min=0, max=100, step=1),
        Param("oversold", "number", -50, title="Oversold Level", min=-100, max=0, step=1),
    )
    outputs = (
        Output("value", "numeric", "CMO, -100..100", primary=True),
        Output(
            "zone",
            "categorical",
            "overbought / oversold / neutral by the levels",
            values=("overbought", "oversold", "neutral"),
        ),
    )

    @classmethod
    def check_config(cls, config):
        if config["oversold"] >= config["overbought"]:
            raise ModuleConfigError(cls.module_id, "oversold", "must be below overbought")

    def compute(self, data, config):
        close = as_float(data, "close")
        change = close - lag(close)
        up = talib.SUM(np.maximum(change, 0.0), config["period"])  # NaN stays NaN
        down = talib.SUM(np.maximum(-change, 0.0), config["period"])
        total = up + down
        with np.errstate(invalid="ignore", divide="ignore"):
            cmo = np.where(total > 0, 100.0 * (up - down) / total, 0.0)
            cmo[np.isnan(total)] = np.nan
            zone = zones(cmo, config["overbought"], config["oversold"])
        return {"value": cmo, "zone": zone}
