"""Linear regression slope: least-squares slope of the last ``period`` prices against bar number.

slope = (n * sum(x*y) - sum(x) * sum(y)) / (n * sum(x^2) - sum(x)^2), x = 0..n-1, in price units
per bar. Computed with TA-Lib ``LINEARREG_SLOPE``; the first ``period - 1`` bars are NaN.
``slope_pct`` = 100 * slope / source price: percent per bar, comparable across instruments.
"""
import numpy as np
import talib

from modules.base import BaseModule, Output, Param
from modules.common.series import SOURCE_HELP, SOURCES, labels, price_source


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
        Output("direction", "categorical", 
               "rising when the slope is positive, falling when negative",
               values=("rising", "falling", "flat")),
    )

    def compute(self, data, config):
        price = price_source(data, config["source"])
        slope = talib.LINEARREG_SLOPE(price, timeperiod=config["period"])
        with np.errstate(invalid="ignore", divide="ignore"):
            slope_pct = np.where(price != 0, 100.0 * slope / price, np.nan)
        direction = labels([(slope > 0, "rising"), (slope < 0, "falling")], len(slope), "flat")
        return {"slope": slope, "slope_pct": slope_pct, "direction": direction}
