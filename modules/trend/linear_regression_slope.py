"""Linear regression slope: least-squares slope of the last ``period`` prices against bar number.

slope = (n * sum(x*y) - sum(x) * sum(y)) / (n * sum(x^2) - sum(x)^2), x = 0..n-1, in price units
per bar. Computed with TA-Lib ``LINEARREG_SLOPE``; the first ``period - 1`` bars are NaN.
``slope_pct`` = 100 * slope / source price: percent per bar, comparable across instruments.
"""

import functools

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, labels_from_codes
from modules.common.series import SOURCE_HELP, SOURCES, price_source


@njit(cache=True, nogil=True, error_model="numpy")
def _derived(slope, price):
    """slope_pct (NaN where the price is 0) and direction codes (0 rising, 1 falling, 2 flat /
    NaN), one branchless pass."""
    n = slope.shape[0]
    pct = np.empty(n)
    direction = np.empty(n, dtype=np.int8)
    for t in range(n):
        x = slope[t]
        p = price[t]
        q = 100.0 * x / p
        pct[t] = q if p != 0.0 else np.nan
        direction[t] = 2 - 2 * np.int8(x > 0.0) - np.int8(x < 0.0)
    return pct, direction


class LinearRegressionSlope(BaseModule):
    module_id = "linear_regression_slope"
    name = "Linear Regression Slope"
    category = "trend"
    description = "Slope of the least-squares line through recent prices, per bar."
    params = (
        Param("period", "integer", 14, title="Period", min=2, max=1000, step=1, key=True),
        Param("source", "select", "close", title="Source", options=SOURCES, help=SOURCE_HELP),
    )
    outputs = (
        Output("slope", "numeric", "regression slope, price units per bar", primary=True),
        Output("slope_pct", "numeric", "slope as percent of the price, percent per bar"),
        Output(
            "direction",
            "categorical",
            "rising when the slope is positive, falling when negative",
            values=("rising", "falling", "flat"),
        ),
    )

    def compute(self, data, config):
        price = price_source(data, config["source"])
        slope = talib.LINEARREG_SLOPE(price, timeperiod=config["period"])
        derived = functools.cache(lambda: _derived(slope, price))  # one pass for both, if asked for
        return {
            "slope": slope,
            "slope_pct": lambda: derived()[0],
            "direction": lambda: labels_from_codes(derived()[1], ("rising", "falling", "flat")),
        }
