"""Helpers for the support/resistance (and some custom) modules: confirmed swing points, UTC
sessions with the previous day's high/low/close, and small array helpers (lag, rolling max/min).

Swing points (fractals, Bill Williams style with configurable strength): bar ``i`` is a swing
high when its high is strictly above the ``left`` highs before it and at least as high as the
``right`` highs after it (so on a flat top the first bar counts); swing lows likewise. A swing
at bar ``i`` is only *known* at bar ``i + right``, so every array here is indexed by the bar at
which the swing is confirmed, never by the swing bar itself: no look-ahead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib
from numba import njit

from modules.errors import ModuleDataError


def lag(values: np.ndarray, bars: int = 1, fill=np.nan) -> np.ndarray:
    """``values`` delayed by ``bars`` bars (same length, the first ``bars`` set to ``fill``)."""
    out = np.empty_like(values)
    head = min(bars, len(values))
    out[:head] = fill
    out[head:] = values[: len(values) - head]
    return out


def rolling_max(values: np.ndarray, period: int) -> np.ndarray:
    """Highest value of the last ``period`` bars including the current one (TA-Lib ``MAX``)."""
    return values.astype(np.float64) if period == 1 else talib.MAX(values, period)


def rolling_min(values: np.ndarray, period: int) -> np.ndarray:
    """Lowest value of the last ``period`` bars including the current one (TA-Lib ``MIN``)."""
    return values.astype(np.float64) if period == 1 else talib.MIN(values, period)


def confirmed_swings(high: np.ndarray, low: np.ndarray, left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
    """Swing highs and lows at their confirmation bar.

    Returns ``(swing_high, swing_low)``: at bar ``t`` the price of the swing high (low) at bar
    ``t - right`` if that bar is one, else NaN. Only bars up to ``t`` are read.
    """
    n = len(high)
    if n < left + right + 1:
        return np.full(n, np.nan), np.full(n, np.nan)
    left_max, left_min, right_max, right_min = swing_extremes(high, low, left, right)
    return _confirm(high, low, left_max, left_min, right_max, right_min, right)


def swing_extremes(high, low, left, right):
    """``(left_max, left_min, right_max, right_min)`` that :func:`confirmed_swings` tests a
    candidate against: the extremes of the ``left`` bars before it and of the ``right`` bars
    after it (up to ``t``), TA-Lib ``MAX`` / ``MIN`` of ``left`` and ``right`` bars (the same two
    calls when ``left == right``)."""
    left_max, left_min = rolling_max(high, left), rolling_min(low, left)
    if right == left:
        return left_max, left_min, left_max, left_min
    return left_max, left_min, rolling_max(high, right), rolling_min(low, right)


@njit(cache=True, nogil=True)
def _confirm(high, low, left_max, left_min, right_max, right_min, right):
    """At bar ``t``: the candidate bar ``t - right`` against the extremes of the ``left`` bars
    before it (``left_max[t - right - 1]``) and of the ``right`` bars after it
    (``right_max[t]``), in one pass (a comparison with NaN is false: no swing)."""
    n = high.shape[0]
    out_high = np.empty(n)
    out_low = np.empty(n)
    for t in range(n):
        out_high[t] = np.nan
        out_low[t] = np.nan
        if t <= right:  # no bar before the candidate yet
            continue
        i = t - right
        h = high[i]
        lo = low[i]
        if h > left_max[i - 1] and h >= right_max[t]:
            out_high[t] = h
        if lo < left_min[i - 1] and lo <= right_min[t]:
            out_low[t] = lo
    return out_high, out_low


@njit(cache=True)
def is_swing_high(high, i, left, right):
    """True if bar ``i`` is a swing high; reads bars ``i - left .. i + right`` (Numba)."""
    if i < left or i + right >= high.shape[0]:
        return False
    for j in range(i - left, i):
        if not high[i] > high[j]:
            return False
    for j in range(i + 1, i + right + 1):  # noqa: SIM110 - a Numba kernel: plain loops like the one above
        if not high[i] >= high[j]:
            return False
    return True


@njit(cache=True)
def is_swing_low(low, i, left, right):
    """True if bar ``i`` is a swing low; reads bars ``i - left .. i + right`` (Numba)."""
    if i < left or i + right >= low.shape[0]:
        return False
    for j in range(i - left, i):
        if not low[i] < low[j]:
            return False
    for j in range(i + 1, i + right + 1):  # noqa: SIM110 - a Numba kernel: plain loops like the one above
        if not low[i] <= low[j]:
            return False
    return True


# ---- UTC sessions ---------------------------------------------------------------------------
def utc_seconds(data: pd.DataFrame, bars: int | None = None) -> np.ndarray:
    """Bar open times as integer seconds since the Unix epoch (UTC); of the first ``bars`` bars
    only if given."""
    return np.floor_divide(_utc_ns(data, bars), 1_000_000_000)


def _utc_ns(data: pd.DataFrame, bars: int | None = None) -> np.ndarray:
    ticks, per_second = utc_ticks(data, bars)
    if per_second == 1_000_000_000:  # (as_unit copies, even to the index's own unit)
        return ticks
    index = data.index[:bars] if bars is not None else data.index
    assert isinstance(index, pd.DatetimeIndex)  # checked by utc_ticks
    return index.as_unit("ns").asi8


_TICKS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def utc_ticks(data: pd.DataFrame, bars: int | None = None) -> tuple[np.ndarray, int]:
    """The index's integers (UTC whatever its time zone, in its own unit, no copy), of the
    first ``bars`` bars only if given, and how many make a second."""
    index = data.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ModuleDataError("data needs a timezone-aware UTC DatetimeIndex")
    if bars is not None:
        index = index[:bars]
    return index.asi8, _TICKS_PER_SECOND[index.unit]


def session_ids(data: pd.DataFrame, start_hour: int = 0, anchor: str = "day") -> np.ndarray:
    """Integer id of the session each bar belongs to; ids increase with time.

    A ``day`` session runs from ``start_hour``:00 UTC to the same hour the next day. A session
    starting at 12:00 or later is named after the next calendar day (the FX convention: with
    22:00 the Monday session opens Sunday 22:00 UTC). A ``week`` session starts with the
    Monday session, so on Monday ``start_hour``:00 UTC, or on Sunday when that hour is >= 12.
    """
    if anchor not in ("day", "week"):
        raise ValueError(f"unknown anchor {anchor!r}")
    return _session_ids(_utc_ns(data), start_hour, anchor == "week")


@njit(cache=True, nogil=True)
def _session_ids(ns, start_hour, week):
    """Days since the epoch from ``start_hour``:00 UTC (floor division: integers, exact), or
    Monday-based weeks of the session names (1970-01-01 was a Thursday), in one pass."""
    out = np.empty(ns.shape[0], dtype=np.int64)
    named = 1 if start_hour >= 12 else 0
    for i in range(ns.shape[0]):
        day = (ns[i] // 1_000_000_000 - start_hour * 3600) // 86400
        out[i] = (day + named + 3) // 7 if week else day
    return out


def previous_sessions(
    data: pd.DataFrame, high: np.ndarray, low: np.ndarray, close: np.ndarray, start_hour: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per day session of the data, in order: the high, low and close of the previous completed
    session (NaN for the first), and the session's number of bars.

    The "previous" day is the last earlier session that has bars (Friday for a Monday when the
    market is closed on weekends). A session's own bars never see its own high/low/close, so
    there is no look-ahead. ``np.repeat(values, lengths)`` gives a per-bar series: levels
    computed per session and then repeated are the same numbers as levels computed per bar.
    """
    n = len(close)
    if n == 0:
        return np.full(0, np.nan), np.full(0, np.nan), np.full(0, np.nan), np.zeros(0, dtype=np.intp)
    starts = _session_starts(*utc_ticks(data), start_hour)
    ends = np.r_[starts[1:], n]
    # session k reads row k: session k - 1's values, NaN for the first
    prev_high = np.concatenate(([np.nan], np.maximum.reduceat(high, starts)[:-1]))
    prev_low = np.concatenate(([np.nan], np.minimum.reduceat(low, starts)[:-1]))
    prev_close = np.concatenate(([np.nan], close[ends[:-1] - 1]))
    return prev_high, prev_low, prev_close, ends - starts


@njit(cache=True, nogil=True)
def _session_starts(ticks, per_second, start_hour):
    """The bars where :func:`session_ids`' day changes, the first bar included, from the index's
    integers (``per_second`` a second: ``ticks // per_second`` is the same as ``ns //
    1_000_000_000``). A bar's day is worked out (the same floor divisions) only when it leaves
    the previous bar's day, the ticks ``[lo, hi)`` of that day (``floor(ticks / per_second) >=
    K`` exactly when ``ticks >= K * per_second``)."""
    n = ticks.shape[0]
    starts = np.empty(n, dtype=np.int64)  # pages of it never written are never touched
    m = 0
    day = 0
    lo = 1
    hi = 0  # no day yet
    for i in range(n):
        t = ticks[i]
        if t < lo or t >= hi:
            d = (t // per_second - start_hour * 3600) // 86400
            if m == 0 or d != day:
                starts[m] = i
                m += 1
            day = d
            lo = (d * 86400 + start_hour * 3600) * per_second
            hi = lo + 86400 * per_second  # (past the int64 range near its end: worked out each bar)
    return starts[:m]


@njit(cache=True, nogil=True)
def session_zone_codes(close, lengths, levels, strict, missing):
    """Where each bar's close sits among its session's levels, session by session.

    ``levels[j, k]``: level ``j`` of session ``k`` (``lengths[k]`` bars), highest first. The
    code is the number of levels minus the number the close is above (strictly for the first
    ``strict`` levels, at or above for the others): 0 above the highest; the number of levels
    plus one where ``missing[k]`` (no levels, e.g. the first session)."""
    out = np.empty(close.shape[0], dtype=np.int8)
    count = levels.shape[0]
    t = 0
    for k in range(lengths.shape[0]):
        # level by level over the session's bars (contiguous, vectorised): the same counts
        stop = t + lengths[k]
        codes = out[t:stop]
        prices = close[t:stop]
        if missing[k]:
            codes[:] = count + 1
        else:
            codes[:] = count
            for j in range(count):
                level = levels[j, k]
                if j < strict:
                    for q in range(codes.shape[0]):
                        codes[q] -= prices[q] > level
                else:
                    for q in range(codes.shape[0]):
                        codes[q] -= prices[q] >= level
        t = stop
    return out
