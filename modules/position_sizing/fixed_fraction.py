"""Fixed fraction: risk ``risk_pct`` % of equity per trade, from the stop distance.

units = equity × risk_pct / 100 / |entry price − stop price|, so a stopped-out trade loses
``risk_pct`` % of equity before costs (Van Tharp, "Trade Your Way to Financial Freedom", ch. 14,
"percent risk model"). Without a stop the engine buys the whole equity. The output is the
risk fraction (risk_pct / 100) per bar.
"""

from modules.base import Output, Param

from ._base import PositionSizingModule


class FixedFraction(PositionSizingModule):
    module_id = "fixed_fraction"
    name = "Fixed Fraction (risk %)"
    description = "Risk a fixed percent of equity per trade, sized from the stop distance."
    sizing_basis = "risk_fraction"
    params = (
        Param(
            "risk_pct",
            "number",
            1.0,
            title="Risk per Trade (%)",
            min=0.01,
            max=100,
            step=0.1,
            key=True,
            help="Percent of equity lost when the stop is hit.",
        ),
    )
    outputs = (Output("risk_fraction", "numeric", "Fraction of equity risked per trade", primary=True),)

    def compute(self, data, config):
        return {"risk_fraction": self.constant(len(data), config["risk_pct"] / 100.0)}
