"""Fisher Transform (John F. Ehlers, "Using the Fisher Transform", Stocks & Commodities, 2002).

As TradingView's built-in: with m = (high + low) / 2 and its highest/lowest over ``period``
bars, v_t = 0.66 * ((m - lowest) / (highest - lowest) - 0.5) + 0.67 v_{t-1}, set to +/-0.999
beyond +/-0.99, and Fisher_t = 0.5 ln((1 + v_t) / (1 - v_t)) + 0.5 Fisher_{t-1}; the trigger
is the previous bar's Fisher. Recursion starts at bar ``period - 1`` from v = Fisher = 0
(earlier bars NaN); a zero-range window counts as mid-range (TradingView would emit NaN and
restart). Unbounded but typically -3..3. Numba kernel.
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare
from modules.common.swings_sr import lag, rolling_max, rolling_min


@njit(cache=True)
def _fisher(mid, highest, lowest, period):
    n = mid.shape[0]
    fisher = np.full(n, np.nan)
    value = 0.0
    prev = 0.0
    for t in range(period - 1, n):
        span = highest[t] - lowest[t]
        position = (mid[t] - lowest[t]) / span - 0.5 if span > 0.0 else 0.0
        value = 0.66 * position + 0.67 * value
        if value > 0.99:
            value = 0.999
        elif value < -0.99:
            value = -0.999
        prev = 0.5 * np.log((1.0 + value) / (1.0 - value)) + 0.5 * prev
        fisher[t] = prev
    return fisher


class FisherTransform(BaseModule):
    module_id = "fisher_transform"
    name = "Fisher Transform"
    category = "custom"
    description = "Ehlers' Fisher Transform of the median price: sharp turning points."
    requires = ("high", "low")
    params = (Param("period", "integer", 9, title="Period", min=2, max=500, step=1, key=True),)
    outputs = (
        Output("value", "numeric", "Fisher Transform, unitless (typically -3..3)", primary=True),
        Output("trigger", "numeric", "previous bar's Fisher value"),
        Output(
            "trend",
            "categorical",
            "bullish when Fisher > trigger, bearish below",
            values=("bullish", "bearish", "neutral"),
        ),
    )

    def compute(self, data, config):
        mid = (as_float(data, "high") + as_float(data, "low")) / 2.0
        n = config["period"]
        fisher = _fisher(mid, rolling_max(mid, n), rolling_min(mid, n), n)
        trigger = lag(fisher)
        with np.errstate(invalid="ignore"):
            trend = compare(fisher, trigger, ("bullish", "bearish", "neutral"))
        return {"value": fisher, "trigger": trigger, "trend": trend}
