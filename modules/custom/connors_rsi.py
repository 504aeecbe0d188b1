"""Connors RSI (Larry Connors & Cesar Alvarez, "An Introduction to ConnorsRSI", 2012).

CRSI = (RSI(close, rsi_period) + RSI(streak, streak_period) + PercentRank(ROC1, rank_period)) / 3
where streak counts consecutive up closes (+1, +2, ...) or down closes (-1, -2, ...), 0 on an
unchanged close; RSI is Wilder's (TA-Lib ``RSI``); ROC1 is the one-bar percent change and its
percent rank is the share (0-100) of the previous ``rank_period`` ROC1 values strictly below
the current one (Connors' definition; TradingView counts <=). 0-100; NaN until rank_period + 1
bars. Streak with the one-bar change, percent rank and the average: Numba kernels around
TA-Lib's RSI.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import zones
from modules.errors import ModuleConfigError


@njit(cache=True, nogil=True, error_model="numpy")
def _streak_and_change(close):
    """Consecutive higher (+) / lower (-) closes, 0 on an unchanged (or NaN) close; and the
    one-bar percent change 100 (close / previous close - 1) (NaN on the first bar, inf or NaN
    after a zero close, as NumPy). Branchless selects: the direction of a close is a coin toss,
    which a branch mispredicts half the time."""
    n = close.shape[0]
    streak = np.empty(n)
    change = np.empty(n)
    run = 0.0
    if n:
        streak[0] = 0.0
        change[0] = np.nan
    for t in range(1, n):
        up = close[t] > close[t - 1]
        down = close[t] < close[t - 1]
        longer_up = run + 1.0 if run > 0 else 1.0
        longer_down = run - 1.0 if run < 0 else -1.0
        run = longer_up if up else (longer_down if down else 0.0)
        streak[t] = run
        change[t] = 100.0 * (close[t] / close[t - 1] - 1.0)
    return streak, change


@njit(cache=True, nogil=True)
def _mean_of_three(a, b, c):
    """(a + b + c) / 3, summed left to right as NumPy's expression did, written over ``a`` (a
    temporary of the caller's: no fresh 8 MB array to fault in)."""
    for t in range(a.shape[0]):
        a[t] = (a[t] + b[t] + c[t]) / 3.0
    return a


@njit(cache=True, nogil=True)
def _percent_rank(values, period):
    """Percent (0-100) of the previous ``period`` values strictly below the current one.

    Same counts as the direct double loop, computed in blocks of bars with the lag as the
    outer loop, so the inner comparison loop runs over contiguous memory and vectorises
    (about 4x faster than one window per bar); eight lags per pass over the block's counts."""
    n = values.shape[0]
    rank = np.full(n, np.nan)
    block = 2048
    count = np.empty(block, dtype=np.int64)
    for start in range(period + 1, n, block):  # values[0] is NaN (no previous close)
        m = min(block, n - start)
        current = values[start : start + m]
        count[:m] = 0
        k = 1
        while k + 7 <= period:
            lag_0 = values[start - k : start - k + m]
            lag_1 = values[start - k - 1 : start - k - 1 + m]
            lag_2 = values[start - k - 2 : start - k - 2 + m]
            lag_3 = values[start - k - 3 : start - k - 3 + m]
            lag_4 = values[start - k - 4 : start - k - 4 + m]
            lag_5 = values[start - k - 5 : start - k - 5 + m]
            lag_6 = values[start - k - 6 : start - k - 6 + m]
            lag_7 = values[start - k - 7 : start - k - 7 + m]
            for i in range(m):
                c = current[i]
                near = (lag_0[i] < c) + (lag_1[i] < c) + (lag_2[i] < c) + (lag_3[i] < c)
                far = (lag_4[i] < c) + (lag_5[i] < c) + (lag_6[i] < c) + (lag_7[i] < c)
                count[i] += near + far
            k += 8
        while k <= period:
            previous = values[start - k : start - k + m]
            for i in range(m):
                count[i] += previous[i] < current[i]
            k += 1
        for i in range(m):
            rank[start + i] = 100.0 * count[i] / period
    return rank


class ConnorsRSI(BaseModule):
    module_id = "connors_rsi"
    name = "Connors RSI"
    category = "custom"
    description = "Average of a short RSI, the RSI of up/down streaks and the rank of today's move."
    requires = ("close",)
    params = (
        Param("rsi_period", "integer", 3, title="RSI Period", min=2, max=100, step=1, key=True),
        Param("streak_period", "integer", 2, title="Streak RSI Period", min=2, max=100, step=1, key=True),
        Param("rank_period", "integer", 100, title="Percent Rank Period", min=2, max=1000, step=1, key=True),
        Param("overbought", "number", 90, title="Overbought Level", min=50, max=100, step=1),
        Param("oversold", "number", 10, title="Oversold Level", min=0, max=50, step=1),
    )
    outputs = (
        Output("value", "numeric", "Connors RSI, 0-100", primary=True),
        Output("streak", "numeric", "consecutive up (+) / down (-) closes, bars"),
        Output("percent_rank", "numeric", "percent rank of the one-bar change, 0-100"),
        Output(
            "zone",
            "categorical",
            "overbought / oversold / neutral by the levels",
            values=("overbought", "oversold", "neutral"),
        ),
    )

    @classmethod
    def check_config(cls, config):
        if config["oversold"] >= config["overbought"]:
            raise ModuleConfigError(cls.module_id, "oversold", "must be below overbought")

    def compute(self, data, config):
        close = as_float(data, "close")
        streak, roc = _streak_and_change(close)
        rank = _percent_rank(roc, config["rank_period"])
        crsi = _mean_of_three(talib.RSI(close, config["rsi_period"]), talib.RSI(streak, config["streak_period"]), rank)
        with np.errstate(invalid="ignore"):
            zone = zones(crsi, config["overbought"], config["oversold"])
        return {"value": crsi, "streak": streak, "percent_rank": rank, "zone": zone}
