"""KAMA, Kaufman's Adaptive Moving Average (Perry Kaufman, "Smarter Trading", 1995).

efficiency ratio ER_t = |close_t - close_{t-period}| / sum of |close_j - close_{j-1}| over the
last ``period`` bars (1 when that sum is 0); smoothing constant
sc = (ER * (2/(fast+1) - 2/(slow+1)) + 2/(slow+1))^2; KAMA_t = KAMA_{t-1} + sc (close_t -
KAMA_{t-1}), seeded with close_{period-1}, first value at bar ``period`` (as TA-Lib ``KAMA``,
which it equals for fast = 2, slow = 30; TA-Lib has no fast/slow parameters, hence Numba).
Price units. The noise sum is a running sum, as in TA-Lib.
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.common.series import position
from modules.errors import ModuleConfigError


@njit(cache=True, nogil=True, error_model="numpy")
def _kama(close, period, fast, slow):
    """KAMA and the efficiency ratio (NaN for the first ``period`` bars)."""
    n = close.shape[0]
    kama = np.empty(n)
    er_out = np.empty(n)
    head = min(n, period)
    kama[:head] = np.nan
    er_out[:head] = np.nan
    if n <= period:
        return kama, er_out
    fast_sc = 2.0 / (fast + 1.0)
    slow_sc = 2.0 / (slow + 1.0)
    noise = 0.0
    for j in range(1, period + 1):
        noise += abs(close[j] - close[j - 1])
    prev = close[period - 1]
    for t in range(period, n):
        if t > period:
            noise += abs(close[t] - close[t - 1]) - abs(close[t - period] - close[t - period - 1])
        direction = abs(close[t] - close[t - period])
        er = 1.0 if (noise <= direction or abs(noise) < 1e-14) else direction / noise
        sc = (er * (fast_sc - slow_sc) + slow_sc) ** 2
        prev = prev + sc * (close[t] - prev)
        kama[t] = prev
        er_out[t] = er
    return kama, er_out


@njit(cache=True, nogil=True)
def _slope_codes(kama):
    """KAMA versus the bar before: 0 rising, 1 falling, 2 flat, 3 neutral (NaN). Branchless
    and from a constant start, so LLVM vectorises it."""
    n = kama.shape[0]
    out = np.empty(n, dtype=np.int8)
    if n:
        out[0] = 3
    for t in range(1, n):
        v = kama[t]
        p = kama[t - 1]
        out[t] = 3 - 3 * np.int8(v > p) - 2 * np.int8(v < p) - np.int8(v == p)
    return out


class KaufmanAdaptiveMA(BaseModule):
    module_id = "kaufman_adaptive_ma"
    name = "Kaufman Adaptive Moving Average"
    category = "custom"
    description = "Moving average that speeds up in trends and slows down in noise."
    requires = ("close",)
    params = (
        Param("period", "integer", 10, title="Efficiency Period", min=1, max=500, step=1, key=True),
        Param("fast", "integer", 2, title="Fast EMA Period", min=1, max=200, step=1),
        Param("slow", "integer", 30, title="Slow EMA Period", min=2, max=1000, step=1),
    )
    outputs = (
        Output("value", "numeric", "KAMA, price units", primary=True),
        Output("efficiency_ratio", "numeric", "Kaufman efficiency ratio, 0 (noise) to 1 (trend)"),
        Output("position", "categorical", "close above or below KAMA", values=("above", "below", "neutral")),
        Output(
            "slope",
            "categorical",
            "KAMA rising or falling versus the bar before",
            values=("rising", "falling", "flat", "neutral"),
        ),
    )

    @classmethod
    def check_config(cls, config):
        if config["fast"] >= config["slow"]:
            raise ModuleConfigError(cls.module_id, "fast", "must be below slow")

    def compute(self, data, config):
        close = as_float(data, "close")
        kama, er = _kama(close, config["period"], config["fast"], config["slow"])
        return {
            "value": kama,
            "efficiency_ratio": er,
            "position": position(close, kama),
            "slope": labels_from_codes(_slope_codes(kama), ("rising", "falling", "flat", "neutral")),
        }
