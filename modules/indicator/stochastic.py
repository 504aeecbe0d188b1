"""Stochastic Oscillator, slow %K / %D (George Lane, 1950s).

fast %K = 100 * (close - lowest low) / (highest high - lowest low) over ``k_period`` bars;
%K = SMA(fast %K, ``k_smoothing``); %D = SMA(%K, ``d_period``). Values 0-100. Computed with
TA-Lib ``STOCH`` (SMA smoothing); the first ``k_period + k_smoothing + d_period - 3`` bars are NaN.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import LevelsCheck, zones


class Stochastic(LevelsCheck, BaseModule):
    module_id = "stochastic"
    name = "Stochastic Oscillator"
    category = "indicator"
    description = "Stochastic %K/%D: where the close sits in the recent high-low range, 0-100."
    params = (
        Param("k_period", "integer", 14, title="%K Period", min=2, max=500, step=1, key=True),
        Param("k_smoothing", "integer", 3, title="%K Smoothing", min=1, max=100, step=1, key=True),
        Param("d_period", "integer", 3, title="%D Period", min=1, max=100, step=1, key=True),
        Param("overbought", "number", 80, title="Overbought Level", min=50, max=100, step=1),
        Param("oversold", "number", 20, title="Oversold Level", min=0, max=50, step=1),
    )
    outputs = (
        Output("k", "numeric", "slow %K, 0-100", primary=True),
        Output("d", "numeric", "%D: SMA of %K, 0-100"),
        Output(
            "zone",
            "categorical",
            "overbought / oversold / neutral by %K and the levels",
            values=("overbought", "oversold", "neutral"),
        ),
    )

    def compute(self, data, config):
        k, d = talib.STOCH(
            as_float(data, "high"),
            as_float(data, "low"),
            as_float(data, "close"),
            fastk_period=config["k_period"],
            slowk_period=config["k_smoothing"],
            slowk_matype=talib.MA_Type.SMA,
            slowd_period=config["d_period"],
            slowd_matype=talib.MA_Type.SMA,
        )
        return {"k": k, "d": d, "zone": lambda: zones(k, config["overbought"], config["oversold"])}
