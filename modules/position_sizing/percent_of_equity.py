"""Percent of equity: each position is worth ``percent`` % of equity at the fill.

units = equity × percent / 100 / entry price. 100 is "all in" (no leverage), what
backtesting.py's default ``size`` does, without rounding to whole units. Above 100 is leverage.
"""

from modules.base import Output, Param

from ._base import PositionSizingModule


class PercentOfEquity(PositionSizingModule):
    module_id = "percent_of_equity"
    name = "Percent of Equity"
    description = "Position value as a percent of equity; 100 = all in, above 100 = leverage."
    sizing_basis = "equity_fraction"
    params = (
        Param("percent", "number", 100.0, title="Position Value (% of equity)", min=0.01, max=1000, step=1, key=True),
    )
    outputs = (Output("equity_fraction", "numeric", "Position value / equity", primary=True),)

    def compute(self, data, config):
        return {"equity_fraction": self.constant(len(data), config["percent"] / 100.0)}
