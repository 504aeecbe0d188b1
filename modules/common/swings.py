"""Confirmed swing points: the one primitive every ICT / smart-money module is built on.

A **swing high** at bar ``i`` is a high strictly greater than each of the ``left`` highs before
it and each of the ``right`` highs after it (a "fractal" / pivot high; Williams, 1995, with
5-bar fractals being ``left = right = 2``). A **swing low** is the mirror image on the lows.
Ties do not count: on a flat double top neither bar is a swing high (equal highs are
"liquidity", handled by ``liquidity_sweep``).

The right-hand bars are in the future of bar ``i``, so a swing at bar ``i`` only becomes
**known at bar i + right** (its confirmation bar). Everything a module may use is indexed by
that confirmation bar: :func:`find_swings` returns, for every bar ``t``, the swing confirmed at
``t`` and the most recent swing confirmed at or before ``t``, never one confirmed later. Using a
swing at its own bar ``i`` is the classic look-ahead bug of ICT code (e.g. the
``smartmoneyconcepts`` package marks its swings ``swing_length`` bars too early).

:func:`pivot_highs` / :func:`pivot_lows` mark swings at the pivot bar itself; they are for
drawing and tests only and must not feed a signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import talib
from numba import njit


def _shift(values: np.ndarray, bars: int) -> np.ndarray:
    """``values`` delayed by ``bars`` bars (NaN-filled at the start)."""
    out = np.full(len(values), np.nan)
    if bars < len(values):
        out[bars:] = values[: len(values) - bars]
    return out


def _rolling_max(values: np.ndarray, period: int) -> np.ndarray:
    """Highest of the last ``period`` values including the current one (TA-Lib ``MAX``)."""
    return values.copy() if period == 1 else talib.MAX(values, timeperiod=period)


def confirmed_highs(high: np.ndarray, left: int, right: int) -> np.ndarray:
    """Boolean per bar ``t``: bar ``t - right`` is a swing high, known at ``t``.

    Reads only ``high[:t + 1]``: the candidate ``high[t - right]`` is compared with the
    ``left`` highs before it and the ``right`` highs after it (which end at ``t``).
    """
    high = np.ascontiguousarray(high, dtype=np.float64)
    n = len(high)
    out = np.zeros(n, dtype=bool)
    if n < left + right + 1:
        return out
    candidate = _shift(high, right)
    before = _shift(_rolling_max(high, left), right + 1)  # max high[t-right-left .. t-right-1]
    after = _rolling_max(high, right)  # max high[t-right+1 .. t]
    with np.errstate(invalid="ignore"):
        out = (candidate > before) & (candidate > after)
    out[: left + right] = False
    return out


def confirmed_lows(low: np.ndarray, left: int, right: int) -> np.ndarray:
    """Boolean per bar ``t``: bar ``t - right`` is a swing low, known at ``t``."""
    return confirmed_highs(-np.asarray(low, dtype=np.float64), left, right)


def pivot_highs(high: np.ndarray, left: int, right: int) -> np.ndarray:
    """Boolean per bar ``i``: bar ``i`` is a swing high. Reads future bars: for drawing only."""
    confirmed = confirmed_highs(high, left, right)
    out = np.zeros(len(confirmed), dtype=bool)
    out[: len(out) - right] = confirmed[right:]
    return out


def pivot_lows(low: np.ndarray, left: int, right: int) -> np.ndarray:
    """Boolean per bar ``i``: bar ``i`` is a swing low. Uses ``right`` future bars: drawing only."""
    return pivot_highs(-np.asarray(low, dtype=np.float64), left, right)


@dataclass(frozen=True)
class Swings:
    """Swing points as known bar by bar (every array has one value per bar ``t``).

    ``new_high[t]``: a swing high is confirmed at ``t`` (its pivot is bar ``t - right``).
    ``high_level[t]`` / ``high_bar[t]``: price and pivot bar of the most recent swing high
    confirmed at or before ``t`` (NaN / -1 before the first). Same for the lows.
    """

    left: int
    right: int
    new_high: np.ndarray
    new_low: np.ndarray
    high_level: np.ndarray
    high_bar: np.ndarray
    low_level: np.ndarray
    low_bar: np.ndarray


def find_swings(high: np.ndarray, low: np.ndarray, left: int, right: int) -> Swings:
    """Confirmed swing highs and lows with ``left`` / ``right`` bars on each side (>= 1 each).

    The same tests as :func:`confirmed_highs` / :func:`confirmed_lows` (the lows' against
    TA-Lib ``MIN`` of the lows, which is exactly ``-MAX`` of the negated lows those use), in one
    Numba pass with the levels."""
    if left < 1 or right < 1:
        raise ValueError("left and right must be >= 1")
    high = np.ascontiguousarray(high, dtype=np.float64)
    low = np.ascontiguousarray(low, dtype=np.float64)
    new_high, new_low, high_level, high_bar, low_level, low_bar = _swings(
        high,
        low,
        _rolling_max(high, left),
        _rolling_max(high, right),
        _rolling_min(low, left),
        _rolling_min(low, right),
        left,
        right,
    )
    return Swings(left, right, new_high, new_low, high_level, high_bar, low_level, low_bar)


def _rolling_min(values: np.ndarray, period: int) -> np.ndarray:
    """Lowest of the last ``period`` values including the current one (TA-Lib ``MIN``)."""
    return values.copy() if period == 1 else talib.MIN(values, timeperiod=period)


@njit(cache=True, nogil=True)
def _swings(high, low, left_max, right_max, left_min, right_min, left, right):
    """At bar ``t >= left + right``: bar ``t - right`` against the extremes of the ``left`` bars
    before it (``left_max[t - right - 1]``) and of the ``right`` bars after it (``right_max[t]``);
    then the level and pivot bar of the latest swing of each side (NaN / -1 before the first)."""
    n = high.shape[0]
    new_high = np.zeros(n, dtype=np.bool_)
    new_low = np.zeros(n, dtype=np.bool_)
    high_level = np.empty(n)
    high_bar = np.empty(n, dtype=np.int64)
    low_level = np.empty(n)
    low_bar = np.empty(n, dtype=np.int64)
    level_h = np.nan
    bar_h = -1
    level_l = np.nan
    bar_l = -1
    for t in range(n):
        if t >= left + right:
            i = t - right
            if high[i] > left_max[i - 1] and high[i] > right_max[t]:
                new_high[t] = True
                bar_h = i
                level_h = high[i]
            if low[i] < left_min[i - 1] and low[i] < right_min[t]:
                new_low[t] = True
                bar_l = i
                level_l = low[i]
        high_level[t] = level_h
        high_bar[t] = bar_h
        low_level[t] = level_l
        low_bar[t] = bar_l
    return new_high, new_low, high_level, high_bar, low_level, low_bar
