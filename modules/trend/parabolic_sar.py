"""Parabolic SAR, stop and reverse (J. Welles Wilder, 1978).

SAR[t] = SAR[t-1] + AF * (EP - SAR[t-1]), EP = extreme point of the current trend, AF starts at
``acceleration``, grows by it at each new EP up to ``maximum``; the trend reverses when price
crosses the SAR. Computed with TA-Lib ``SAR``; the first bar is NaN. Price units.
"""

import functools

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.errors import ModuleConfigError

DIRECTIONS = ("bullish", "bearish", "neutral")


@njit(cache=True, nogil=True)
def _direction(close, sar):
    """Direction codes (DIRECTIONS: close above the SAR, below it, else -- equal or NaN) and
    whether the direction flipped between bullish and bearish from the bar before, in one pass
    (no boolean temporaries)."""
    n = close.shape[0]
    direction = np.empty(n, dtype=np.int8)
    reversal = np.zeros(n, dtype=np.bool_)
    previous = np.int8(2)
    for t in range(n):
        bull = np.int8(close[t] > sar[t])
        bear = np.int8(close[t] < sar[t])
        code = np.int8(2 - 2 * bull - bear)
        direction[t] = code
        if t > 0:
            reversal[t] = (code == 0 and previous == 1) or (code == 1 and previous == 0)
        previous = code
    return direction, reversal


class ParabolicSAR(BaseModule):
    module_id = "parabolic_sar"
    name = "Parabolic SAR"
    category = "trend"
    description = "Parabolic Stop And Reverse: trailing stop that accelerates with the trend."
    params = (
        Param("acceleration", "number", 0.02, title="Acceleration Step", min=0.001, max=0.5, step=0.001, key=True),
        Param("maximum", "number", 0.2, title="Maximum Acceleration", min=0.01, max=1, step=0.01, key=True),
    )
    outputs = (
        Output("value", "numeric", "SAR level, price units", primary=True),
        Output(
            "direction",
            "categorical",
            "bullish when close is above the SAR, bearish below",
            values=("bullish", "bearish", "neutral"),
        ),
        Output("reversal", "boolean", "direction flipped on this bar"),
    )

    @classmethod
    def check_config(cls, config):
        if config["acceleration"] > config["maximum"]:
            raise ModuleConfigError(cls.module_id, "acceleration", "acceleration step must not exceed the maximum")

    def compute(self, data, config):
        sar = talib.SAR(
            as_float(data, "high"),
            as_float(data, "low"),
            acceleration=config["acceleration"],
            maximum=config["maximum"],
        )
        derived = functools.cache(lambda: _direction(as_float(data, "close"), sar))  # one pass, if asked for
        return {
            "value": sar,
            "direction": lambda: labels_from_codes(derived()[0], DIRECTIONS),
            "reversal": lambda: derived()[1],
        }
