"""Vortex Indicator (Etienne Botes & Douglas Siepman, Technical Analysis of Stocks &
Commodities, January 2010).

VM+_t = |high_t - low_{t-1}|, VM-_t = |low_t - high_{t-1}|, TR = true range;
VI+ = sum(VM+, n) / sum(TR, n), VI- = sum(VM-, n) / sum(TR, n) (TA-Lib ``SUM``, ``TRANGE``).
Dimensionless, around 1. NaN for the first ``period`` bars. ``trend`` is "bullish" when
VI+ > VI-; ``cross`` marks the bar where VI+ crosses above ("bull_cross") or below
("bear_cross") VI-, the authors' entry signal.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare, labels
from modules.common.swings_sr import lag


class VortexIndicator(BaseModule):
    module_id = "vortex_indicator"
    name = "Vortex Indicator"
    category = "custom"
    description = "VI+ and VI-: upward versus downward trend movement relative to true range."
    params = (Param("period", "integer", 14, title="Period", min=2, max=500, step=1, key=True),)
    outputs = (
        Output("plus", "numeric", "VI+, around 1", primary=True),
        Output("minus", "numeric", "VI-, around 1"),
        Output(
            "trend",
            "categorical",
            "bullish when VI+ > VI-, bearish when VI- > VI+",
            values=("bullish", "bearish", "neutral"),
        ),
        Output(
            "cross",
            "categorical",
            "VI+ crossed above (bull) / below (bear) VI- on this bar",
            values=("bull_cross", "bear_cross", "none"),
        ),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        n = config["period"]
        vm_plus = np.abs(high - lag(low))
        vm_minus = np.abs(low - lag(high))
        tr_sum = talib.SUM(talib.TRANGE(high, low, close), n)
        with np.errstate(invalid="ignore", divide="ignore"):
            plus = np.where(tr_sum > 0, talib.SUM(vm_plus, n) / tr_sum, np.nan)
            minus = np.where(tr_sum > 0, talib.SUM(vm_minus, n) / tr_sum, np.nan)
            spread = plus - minus
            prev = lag(spread)
            trend = compare(spread, 0, ("bullish", "bearish", "neutral"))
            cross = labels(
                [((spread > 0) & (prev <= 0), "bull_cross"), ((spread < 0) & (prev >= 0), "bear_cross")],
                len(spread),
                "none",
            )
        return {"plus": plus, "minus": minus, "trend": trend, "cross": cross}
