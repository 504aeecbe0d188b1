"""Displacement (ICT): a strong, decisive candle (or short run) with small wicks.

On the chart: a big-bodied candle that barely has wicks, covering much more ground than the
recent average range: institutions moving price with intent. It usually leaves a fair value
gap and is what makes a structure break a market structure shift. Source: Huddleston, ICT
Mentorship (2016-2022); the ATR yardstick is Wilder's (1978) Average True Range.

Rule, known at the close of bar ``t``: a run of ``m`` consecutive same-colour candles ending at
``t`` (``1 <= m <= max_run``; ``max_run = 1`` means single candles only), each with
``|close - open| / (high - low) >= min_body_ratio``, whose net move ``close[t] - open[t-m+1]``
is at least ``multiplier`` x ATR(``atr_period``) of the bar before the run (so the move does
not inflate its own yardstick). Up-candles give ``bullish``, down-candles ``bearish``.

Outputs: ``state`` (``bullish`` / ``bearish`` / ``none`` at this bar), ``candles`` (length of
the shortest qualifying run, 0 if none) and ``body_atr`` (this bar's signed body in ATRs of the
previous bar, NaN during the ATR warm-up).
"""

import numpy as np

from modules.base import BaseModule, Output

from ._structure import DISPLACEMENT_PARAMS, displacement, ohlc
from ._zones import codes_to_labels


class Displacement(BaseModule):
    module_id = "displacement"
    name = "Displacement"
    category = "ict"
    description = "A large-bodied, small-wicked candle (or run) of at least k x ATR."
    params = DISPLACEMENT_PARAMS
    outputs = (
        Output(
            "state",
            "categorical",
            "displacement ending at this bar",
            primary=True,
            values=("bullish", "bearish", "none"),
        ),
        Output("candles", "numeric", "candles in the displacement run (0 if none)"),
        Output("body_atr", "numeric", "signed body of this bar in ATRs of the previous bar"),
    )

    def compute(self, data, config):
        open_, high, low, close = ohlc(data)
        direction, candles, atr_before = displacement(
            open_,
            high,
            low,
            close,
            config["atr_period"],
            config["multiplier"],
            config["min_body_ratio"],
            config["max_run"],
        )
        state = np.where(direction == 1, 0, np.where(direction == -1, 1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            body_atr = np.where(atr_before > 0, (close - open_) / atr_before, np.nan)
        return {
            "state": codes_to_labels(state, ("bullish", "bearish", "none")),
            "candles": candles.astype(np.float64),
            "body_atr": body_atr,
        }
