"""Volatility target (ATR based): size so that a move of ``atr_multiple`` ATRs costs
``risk_pct`` % of equity.

units = equity × risk_pct / 100 / (atr_multiple × ATR(atr_period)), ATR from TA-Lib at the
signal bar. Calm markets get larger positions, volatile ones smaller: each position carries
about the same volatility (the "N" unit of the Turtle rules, Faith, "Way of the Turtle", ch. 5).
Outputs ``units_per_equity`` (units per 1 of equity; NaN while ATR warms up, so entries are
skipped) and the ``atr`` it used.
"""

import numpy as np
import talib

from modules.base import Output, Param, as_float

from ._base import PositionSizingModule


class VolatilityTarget(PositionSizingModule):
    module_id = "volatility_target"
    name = "Volatility Target (ATR)"
    description = "Size each entry so that a move of k ATRs costs a fixed percent of equity."
    sizing_basis = "units_per_equity"
    requires = ("high", "low", "close")
    params = (
        Param(
            "risk_pct",
            "number",
            1.0,
            title="Equity per k ATR (%)",
            min=0.01,
            max=100,
            step=0.1,
            key=True,
            help="Percent of equity that a move of atr_multiple ATRs costs.",
        ),
        Param("atr_period", "integer", 14, title="ATR Period", min=1, max=500, step=1, key=True),
        Param("atr_multiple", "number", 2.0, title="ATR Multiple", min=0.1, max=100, step=0.1),
    )
    outputs = (
        Output("units_per_equity", "numeric", "Units per 1 of equity", primary=True),
        Output("atr", "numeric", "ATR in price units"),
    )

    def compute(self, data, config):
        atr = talib.ATR(
            as_float(data, "high"), as_float(data, "low"), as_float(data, "close"), timeperiod=config["atr_period"]
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            units = config["risk_pct"] / 100.0 / (config["atr_multiple"] * atr)
        units[~np.isfinite(units)] = np.nan  # a zero ATR gives no size, not an infinite one
        return {"units_per_equity": units, "atr": atr}
