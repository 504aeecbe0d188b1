"""Fisher Transform (John F. Ehlers, "Using the Fisher Transform", Stocks & Commodities, 2002).

As TradingView's built-in: with m = (high + low) / 2 and its highest/lowest over ``period``
bars, v_t = 0.66 * ((m - lowest) / (highest - lowest) - 0.5) + 0.67 v_{t-1}, set to +/-0.999
beyond +/-0.99, and Fisher_t = 0.5 ln((1 + v_t) / (1 - v_t)) + 0.5 Fisher_{t-1}; the trigger
is the previous bar's Fisher. Recursion starts at bar ``period - 1`` from v = Fisher = 0
(earlier bars NaN); a zero-range window counts as mid-range (TradingView would emit NaN and
restart). Unbounded but typically -3..3. Numba kernels: the median, then Fisher with its
trigger and trend codes in one pass.
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.common.series import median_price
from modules.common.swings_sr import rolling_max, rolling_min


@njit(cache=True, nogil=True)
def _fisher(mid, highest, lowest, period):
    """Fisher, then its trigger (the previous value) and the trend codes (0 Fisher > trigger,
    1 below, 2 equal or NaN) in a second, branchless loop. ``highest`` and ``lowest`` are
    overwritten."""
    n = mid.shape[0]
    # written over the caller's temporaries (no fresh arrays to fault in): Fisher over
    # ``highest`` and the trigger over ``lowest``, each read at its own bar before
    fisher = highest
    trigger = lowest
    trend = np.empty(n, dtype=np.int8)
    start = min(period - 1, n)
    fisher[:start] = np.nan
    value = 0.0
    prev = 0.0
    for t in range(start, n):
        span = highest[t] - lowest[t]
        position = (mid[t] - lowest[t]) / span - 0.5 if span > 0.0 else 0.0
        value = 0.66 * position + 0.67 * value
        if value > 0.99:
            value = 0.999
        elif value < -0.99:
            value = -0.999
        prev = 0.5 * np.log((1.0 + value) / (1.0 - value)) + 0.5 * prev
        fisher[t] = prev
    if n:
        trigger[0] = np.nan
        trend[0] = 2
    for t in range(1, n):
        current = fisher[t]
        before = fisher[t - 1]
        trigger[t] = before
        trend[t] = 2 - 2 * np.int8(current > before) - np.int8(current < before)
    return fisher, trigger, trend


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
        mid = median_price(as_float(data, "high"), as_float(data, "low"))
        n = config["period"]
        fisher, trigger, trend = _fisher(mid, rolling_max(mid, n), rolling_min(mid, n), n)
        trend_labels = labels_from_codes(trend, ("bullish", "bearish", "neutral"))
        return {"value": fisher, "trigger": trigger, "trend": trend_labels}
