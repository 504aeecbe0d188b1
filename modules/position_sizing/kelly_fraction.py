"""Kelly fraction, capped: risk the (scaled) Kelly fraction of equity, never above ``cap_pct`` %.

Full Kelly f* = W − (1 − W) / B for win probability W = ``win_rate_pct`` / 100 and payoff
ratio B = average win / average loss (Kelly, 1956; Thorp, "The Kelly criterion in blackjack,
sports betting and the stock market", 2006). With losses cut at the stop, a loss costs the
risked amount, so f* is the fraction of equity to risk per trade: the engine sizes from the
stop distance as fixed_fraction does. risk fraction = clip(``kelly_multiplier`` × f*, 0,
``cap_pct`` / 100). f* <= 0 (no edge) gives 0, and entries are skipped.
W and B are the trader's estimates (e.g. from an earlier backtest), not fitted on this run's
trades, so the sizing has no look-ahead.
"""

from modules.base import Output, Param

from ._base import PositionSizingModule


class KellyFraction(PositionSizingModule):
    module_id = "kelly_fraction"
    name = "Kelly Fraction (capped)"
    description = "Risk a fraction of the Kelly optimum per trade, capped at a maximum percent."
    sizing_basis = "risk_fraction"
    params = (
        Param(
            "win_rate_pct",
            "number",
            55.0,
            title="Win Rate (%)",
            min=1,
            max=99,
            step=1,
            help="Estimated percent of winning trades.",
        ),
        Param(
            "payoff_ratio",
            "number",
            1.5,
            title="Payoff Ratio",
            min=0.01,
            max=100,
            step=0.1,
            help="Estimated average win / average loss.",
        ),
        Param(
            "kelly_multiplier",
            "number",
            0.5,
            title="Kelly Multiplier",
            min=0.01,
            max=1,
            step=0.05,
            help="0.5 = half Kelly.",
        ),
        Param(
            "cap_pct",
            "number",
            2.0,
            title="Cap (% of equity)",
            min=0.01,
            max=100,
            step=0.1,
            key=True,
            help="The most equity risked on one trade.",
        ),
    )
    outputs = (
        Output("risk_fraction", "numeric", "Fraction of equity risked per trade", primary=True),
        Output("full_kelly", "numeric", "Unscaled, uncapped Kelly fraction (may be negative)"),
    )

    @staticmethod
    def full_kelly(config) -> float:
        win = config["win_rate_pct"] / 100.0
        return win - (1.0 - win) / config["payoff_ratio"]

    def compute(self, data, config):
        full = self.full_kelly(config)
        risk = min(max(config["kelly_multiplier"] * full, 0.0), config["cap_pct"] / 100.0)
        return {"risk_fraction": self.constant(len(data), risk), "full_kelly": self.constant(len(data), full)}
