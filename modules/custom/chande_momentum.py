"""Chande Momentum Oscillator (Tushar Chande & Stanley Kroll, "The New Technical Trader", 1994).

With d = close_t - close_{t-1}: CMO = 100 * (Su - Sd) / (Su + Sd), Su = sum of the positive d
and Sd = sum of |negative d| over the last ``period`` bars (plain sums, as Chande and
TradingView; TA-Lib ``CMO`` uses Wilder smoothing instead and equals 2 * RSI - 100, so it is
not used). -100..100; 0 when prices did not move. NaN for the first ``period`` bars.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import zones
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
        gain, loss = _moves(close)
        cmo = _cmo(talib.SUM(gain, config["period"]), talib.SUM(loss, config["period"]))
        return {"value": cmo, "zone": zones(cmo, config["overbought"], config["oversold"])}


@njit(cache=True, nogil=True)
def _moves(close):
    """Per bar the close's rise and fall over the bar before (each >= 0; NaN stays NaN, as on
    the first bar)."""
    n = close.shape[0]
    gain = np.empty(n)
    loss = np.empty(n)
    if n:
        gain[0] = np.nan
        loss[0] = np.nan
    for t in range(1, n):
        change = close[t] - close[t - 1]
        gain[t] = change if (change > 0.0 or change != change) else 0.0
        loss[t] = -change if (change < 0.0 or change != change) else 0.0
    return gain, loss


@njit(cache=True, nogil=True)
def _cmo(up, down):
    """100 (up - down) / (up + down); 0 where the sum is 0, NaN where it is NaN."""
    n = up.shape[0]
    cmo = np.empty(n)
    for t in range(n):
        total = up[t] + down[t]
        if total > 0:
            cmo[t] = 100.0 * (up[t] - down[t]) / total
        else:
            cmo[t] = np.nan if total != total else 0.0
    return cmo
