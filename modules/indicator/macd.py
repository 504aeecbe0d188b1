"""MACD, Moving Average Convergence/Divergence (Gerald Appel, 1979; histogram: Thomas Aspray, 1986).

MACD line = EMA(close, fast) - EMA(close, slow); signal = EMA(MACD line, signal);
histogram = MACD line - signal. All in price units. Computed with TA-Lib ``MACD``; the first
``slow + signal - 2`` bars are NaN. The primary output is the MACD line (``macd_12_26_9``),
so ``macd_12_26_9 > macd_12_26_9_signal`` is the classic crossover condition.
"""

import talib

from modules.base import BaseModule, Output, Param
from modules.common.series import SOURCE_HELP, SOURCES, compare, price_source
from modules.errors import ModuleConfigError


class MACD(BaseModule):
    module_id = "macd"
    name = "MACD"
    category = "indicator"
    description = "Moving Average Convergence/Divergence: fast EMA minus slow EMA, and its signal."
    params = (
        Param("fast", "integer", 12, title="Fast EMA Period", min=2, max=500, step=1, key=True),
        Param("slow", "integer", 26, title="Slow EMA Period", min=2, max=1000, step=1, key=True),
        Param("signal", "integer", 9, title="Signal EMA Period", min=1, max=500, step=1, key=True),
        Param("source", "select", "close", title="Source", options=SOURCES, help=SOURCE_HELP),
    )
    outputs = (
        Output("macd", "numeric", "MACD line: fast EMA - slow EMA, price units", primary=True),
        Output("signal", "numeric", "signal line: EMA of the MACD line, price units"),
        Output("histogram", "numeric", "MACD line - signal line, price units"),
        Output(
            "trend",
            "categorical",
            "bullish when the MACD line is above its signal line",
            values=("bullish", "bearish", "neutral"),
        ),
    )

    @classmethod
    def check_config(cls, config):
        if config["fast"] >= config["slow"]:
            raise ModuleConfigError(cls.module_id, "fast", "fast period must be below the slow period")

    def compute(self, data, config):
        line, signal, hist = talib.MACD(
            price_source(data, config["source"]),
            fastperiod=config["fast"],
            slowperiod=config["slow"],
            signalperiod=config["signal"],
        )
        return {
            "macd": line,
            "signal": signal,
            "histogram": hist,
            "trend": lambda: compare(hist, 0, ("bullish", "bearish", "neutral")),
        }
