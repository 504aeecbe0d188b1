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


@njit(cache=True)
def _last_level(confirmed: np.ndarray, price: np.ndarray, right: int):
    """Level and pivot bar of the most recent swing confirmed at or before each bar."""
    n = confirmed.shape[0]
    level = np.full(n, np.nan)
    bar = np.full(n, -1, dtype=np.int64)
    current_level = np.nan
    current_bar = -1
    for t in range(n):
        if confirmed[t]:
            current_bar = t - right
            current_level = price[current_bar]
        level[t] = current_level
        bar[t] = current_bar
    return level, bar


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
    """Confirmed swing highs and lows with ``left`` / ``right`` bars on each side (>= 1 each)."""
    if left < 1 or right < 1:
        raise ValueError("left and right must be >= 1")
    high = np.ascontiguousarray(high, dtype=np.float64)
    low = np.ascontiguousarray(low, dtype=np.float64)
    new_high = confirmed_highs(high, left, right)
    new_low = confirmed_lows(low, left, right)
    high_level, high_bar = _last_level(new_high, high, right)
    low_level, low_bar = _last_level(new_low, low, right)
    return Swings(left, right, new_high, new_low, high_level, high_bar, low_level, low_bar)
