"""Bit-for-bit references of the support/resistance modules before their rewrites (issue 19):
the previous compute kept verbatim (kernels renamed ``*_ref``), compared with the modules on the
datasets of ``test_rewrites``, default and edge configs.

pivot_points / camarilla: the day sessions' starts found without a per-bar id array (and in the
index's own time unit), the zone codes level by level over each session's bars.
fibonacci: one pass over blocks of bars, the outputs allocated by NumPy.
sr_zones: the swings found in the zones' kernel (no per-bar swing arrays, no event pass; one
TA-Lib MAX/MIN pair when left == right), the outputs allocated by NumPy, insertion by shifting,
the support zone followed from bar to bar instead of a binary search per bar.
"""

import numpy as np
import pandas as pd
import pytest
import talib
from numba import njit

from modules.base import as_float
from modules.common.swings_sr import confirmed_swings, rolling_max, rolling_min
from modules.errors import ModuleDataError

from .test_rewrites import DATASETS, assert_same_outputs, fibonacci_ref, random_bars


# ---- swings (modules.common.swings_sr) ------------------------------------------------------
def confirmed_swings_ref(high: np.ndarray, low: np.ndarray, left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
    """Swing highs and lows at their confirmation bar.

    Returns ``(swing_high, swing_low)``: at bar ``t`` the price of the swing high (low) at bar
    ``t - right`` if that bar is one, else NaN. Only bars up to ``t`` are read.
    """
    n = len(high)
    if n < left + right + 1:
        return np.full(n, np.nan), np.full(n, np.nan)
    # max of the left bars before the candidate, and of the right bars after it (up to t)
    return _confirm_ref(
        high,
        low,
        rolling_max(high, left),
        rolling_min(low, left),
        rolling_max(high, right),
        rolling_min(low, right),
        right,
    )


@njit(cache=True)
def _confirm_ref(high, low, left_max, left_min, right_max, right_min, right):
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


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("left, right", [(5, 5), (1, 1), (2, 7), (7, 2), (3, 3)])
def test_confirmed_swings_same_as_before(dataset, left, right):
    data = DATASETS[dataset]()
    high, low = as_float(data, "high"), as_float(data, "low")
    for got, expected in zip(
        confirmed_swings(high, low, left, right), confirmed_swings_ref(high, low, left, right), strict=True
    ):
        assert np.array_equal(got, expected, equal_nan=True)


# ---- sr_zones ----------------------------------------------------------------------------------
@njit(cache=True)
def _events_ref(swing_high, swing_low):
    """Swings in confirmation order as (bar, price) pairs; a high and a low confirmed on the
    same bar give two events, the high first."""
    n = swing_high.shape[0]
    bars = np.empty(2 * n, dtype=np.int64)
    prices = np.empty(2 * n)
    m = 0
    for t in range(n):
        if not np.isnan(swing_high[t]):
            bars[m] = t
            prices[m] = swing_high[t]
            m += 1
        if not np.isnan(swing_low[t]):
            bars[m] = t
            prices[m] = swing_low[t]
            m += 1
    return bars[:m], prices[:m]


@njit(cache=True)
def _zones_ref(close, atr, ev_bar, ev_price, right, lookback, width_atr, min_touches):
    n = close.shape[0]
    m = ev_bar.shape[0]
    # written once per bar (NaN where there is no such zone), not filled first
    support = np.empty(n)
    resistance = np.empty(n)
    support_top = np.empty(n)
    resistance_bottom = np.empty(n)
    support_touches = np.empty(n)
    resistance_touches = np.empty(n)
    state = np.empty(n, dtype=np.int8)
    z_level = np.empty(m)
    z_count = np.empty(m)
    window = np.empty(m)  # the prices of the swings in the window, kept sorted
    size = 0
    nz = 0
    half = np.nan
    start = 0
    end = 0
    for t in range(n):
        changed = False
        while end < m and ev_bar[end] <= t:
            # a swing enters: inserted in order (equal prices are interchangeable)
            price = ev_price[end]
            at = np.searchsorted(window[:size], price)
            for k in range(size, at, -1):
                window[k] = window[k - 1]
            window[at] = price
            size += 1
            end += 1
            changed = True
        while start < end and ev_bar[start] - right <= t - lookback:
            # a swing leaves: one entry of its price goes
            at = np.searchsorted(window[:size], ev_price[start])
            for k in range(at, size - 1):  # (a slice assignment between overlapping views copies twice)
                window[k] = window[k + 1]
            size -= 1
            start += 1
            changed = True
        if changed:
            nz = 0
            width = width_atr * atr[t]
            half = width / 2.0
            if end > start and width > 0.0:
                levels = window[:size]  # np.sort(ev_price[start:end]), kept up to date
                first = levels[0]
                total = 0.0
                count = 0
                for q in range(levels.shape[0] + 1):
                    if q < levels.shape[0] and levels[q] - first <= width:
                        total += levels[q]
                        count += 1
                        continue
                    if count >= min_touches:
                        z_level[nz] = total / count
                        z_count[nz] = count
                        nz += 1
                    if q < levels.shape[0]:
                        first = levels[q]
                        total = levels[q]
                        count = 1
        c = close[t]
        support[t] = np.nan
        resistance[t] = np.nan
        support_top[t] = np.nan
        resistance_bottom[t] = np.nan
        support_touches[t] = np.nan
        resistance_touches[t] = np.nan
        state[t] = 0
        if nz == 0 or np.isnan(c):
            continue
        # levels strictly increase with z (disjoint clusters of sorted prices): the support is
        # the last zone at or below the close, the resistance the one after it
        s = np.searchsorted(z_level[:nz], c, side="right") - 1
        r = s + 1 if s + 1 < nz else -1
        state[t] = 3
        in_support = False
        if s >= 0:
            support[t] = z_level[s]
            support_top[t] = z_level[s] + half
            support_touches[t] = z_count[s]
            in_support = c <= z_level[s] + half
        if r >= 0:
            resistance[t] = z_level[r]
            resistance_bottom[t] = z_level[r] - half
            resistance_touches[t] = z_count[r]
            # in both overlapping zones: the nearer level wins
            if c >= z_level[r] - half and not (in_support and c - z_level[s] <= z_level[r] - c):
                state[t] = 2
                continue
        if in_support:
            state[t] = 1
    return (support, resistance, support_top, resistance_bottom, support_touches, resistance_touches, state)


def sr_zones_ref(data, config):
    from modules.support_resistance.sr_zones import STATES

    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    sh, sl = confirmed_swings_ref(high, low, config["left"], config["right"])
    atr = talib.ATR(high, low, close, timeperiod=config["atr_period"])
    bars, prices = _events_ref(sh, sl)
    (support, resistance, support_top, resistance_bottom, support_touches, resistance_touches, state) = _zones_ref(
        close,
        atr,
        bars,
        prices,
        config["right"],
        config["lookback"],
        config["zone_width"],
        config["min_touches"],
    )
    return {
        "state": np.array(STATES)[state],
        "support": support,
        "resistance": resistance,
        "support_top": support_top,
        "resistance_bottom": resistance_bottom,
        "support_touches": support_touches,
        "resistance_touches": resistance_touches,
    }


SR_ZONES_CONFIGS = [
    {},
    {"left": 1, "right": 1, "lookback": 10, "zone_width": 0.05, "atr_period": 1, "min_touches": 1},
    {"left": 2, "right": 7, "lookback": 50, "zone_width": 3.0, "atr_period": 5},
    {"left": 7, "right": 2, "lookback": 1000, "zone_width": 10.0, "min_touches": 5},
    {"lookback": 10000, "zone_width": 0.5, "min_touches": 20},
]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("config", SR_ZONES_CONFIGS)
def test_sr_zones_same_as_before(dataset, config):
    assert_same_outputs("sr_zones", DATASETS[dataset](), config, sr_zones_ref)


def test_sr_zones_same_as_before_on_flat_prices():
    """Many equal swing prices: clusters of equal values whose means round past their edge."""
    data = random_bars(4000, 11)
    grid = (data[["open", "high", "low", "close"]] * 10).round() / 10 + 0.1
    data[["open", "high", "low", "close"]] = grid
    for config in ({}, {"zone_width": 0.05, "min_touches": 1, "left": 1, "right": 1}):
        assert_same_outputs("sr_zones", data, config, sr_zones_ref)


# ---- fibonacci: one pass over blocks, outputs allocated by NumPy -------------------------------
@pytest.mark.parametrize("dataset", [*DATASETS, "three_blocks"])
@pytest.mark.parametrize(
    "config",
    [{}, {"left": 1, "right": 1}, {"left": 100, "right": 100}, {"left": 3, "right": 20}, {"left": 20, "right": 1}],
)
def test_fibonacci_same_as_before(dataset, config):
    data = random_bars(9000, 5, nan_rows=30, gaps=5) if dataset == "three_blocks" else DATASETS[dataset]()
    assert_same_outputs("fibonacci", data, config, fibonacci_ref)


# ---- UTC day sessions (modules.common.swings_sr), pivot_points, camarilla ------------------------
def _utc_ns_ref(data: pd.DataFrame, bars: int | None = None) -> np.ndarray:
    index = data.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ModuleDataError("data needs a timezone-aware UTC DatetimeIndex")
    if bars is not None:
        index = index[:bars]
    return index.tz_convert("UTC").as_unit("ns").asi8


def session_ids_ref(data: pd.DataFrame, start_hour: int = 0, anchor: str = "day") -> np.ndarray:
    """Integer id of the session each bar belongs to; ids increase with time.

    A ``day`` session runs from ``start_hour``:00 UTC to the same hour the next day. A session
    starting at 12:00 or later is named after the next calendar day (the FX convention: with
    22:00 the Monday session opens Sunday 22:00 UTC). A ``week`` session starts with the
    Monday session, so on Monday ``start_hour``:00 UTC, or on Sunday when that hour is >= 12.
    """
    if anchor not in ("day", "week"):
        raise ValueError(f"unknown anchor {anchor!r}")
    return _session_ids_ref(_utc_ns_ref(data), start_hour, anchor == "week")


@njit(cache=True)
def _session_ids_ref(ns, start_hour, week):
    """Days since the epoch from ``start_hour``:00 UTC (floor division: integers, exact), or
    Monday-based weeks of the session names (1970-01-01 was a Thursday), in one pass."""
    out = np.empty(ns.shape[0], dtype=np.int64)
    named = 1 if start_hour >= 12 else 0
    for i in range(ns.shape[0]):
        day = (ns[i] // 1_000_000_000 - start_hour * 3600) // 86400
        out[i] = (day + named + 3) // 7 if week else day
    return out


def previous_sessions_ref(
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
    ids = session_ids_ref(data, start_hour, "day")
    new_session = np.empty(n, dtype=bool)
    new_session[0] = True
    np.not_equal(ids[1:], ids[:-1], out=new_session[1:])
    starts = np.flatnonzero(new_session)
    ends = np.r_[starts[1:], n]
    # session k reads row k: session k - 1's values, NaN for the first
    prev_high = np.concatenate(([np.nan], np.maximum.reduceat(high, starts)[:-1]))
    prev_low = np.concatenate(([np.nan], np.minimum.reduceat(low, starts)[:-1]))
    prev_close = np.concatenate(([np.nan], close[ends[:-1] - 1]))
    return prev_high, prev_low, prev_close, ends - starts


@njit(cache=True)
def session_zone_codes_ref(close, lengths, levels, strict, missing):
    """Where each bar's close sits among its session's levels, in one pass over the bars.

    ``levels[j, k]``: level ``j`` of session ``k`` (``lengths[k]`` bars), highest first. The
    code is the number of levels minus the number the close is above (strictly for the first
    ``strict`` levels, at or above for the others): 0 above the highest; the number of levels
    plus one where ``missing[k]`` (no levels, e.g. the first session)."""
    out = np.empty(close.shape[0], dtype=np.int8)
    count = levels.shape[0]
    t = 0
    for k in range(lengths.shape[0]):
        for _ in range(lengths[k]):
            c = close[t]
            above = 0
            for j in range(count):
                above += (c > levels[j, k]) if j < strict else (c >= levels[j, k])
            out[t] = count + 1 if missing[k] else count - above
            t += 1
    return out


def pivot_points_ref(data, config):
    from modules.common.series import position
    from modules.support_resistance.pivot_points import ZONES

    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    prev_high, prev_low, prev_close, lengths = previous_sessions_ref(data, high, low, close, config["day_start_hour"])
    p = (prev_high + prev_low + prev_close) / 3.0
    levels = {
        "pivot": p,
        "r1": 2 * p - prev_low,
        "s1": 2 * p - prev_high,
        "r2": p + (prev_high - prev_low),
        "s2": p - (prev_high - prev_low),
        "r3": prev_high + 2 * (p - prev_low),
        "s3": prev_low - 2 * (prev_high - p),
    }
    out: dict = {name: np.repeat(values, lengths) for name, values in levels.items()}
    out["bias"] = np.asarray(position(close, out["pivot"]))
    order = np.stack([levels[name] for name in ("r3", "r2", "r1", "pivot", "s1", "s2", "s3")])
    out["zone"] = np.array(ZONES)[session_zone_codes_ref(close, lengths, order, 3, np.isnan(p))]
    return out


def camarilla_ref(data, config):
    from modules.support_resistance.camarilla import DIVISORS, ZONES

    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    prev_high, prev_low, prev_close, lengths = previous_sessions_ref(data, high, low, close, config["day_start_hour"])
    span = (prev_high - prev_low) * 1.1
    levels = {"pivot": (prev_high + prev_low + prev_close) / 3.0}
    for k, divisor in DIVISORS.items():
        levels[f"r{k}"] = prev_close + span / divisor
        levels[f"s{k}"] = prev_close - span / divisor
    out: dict = {name: np.repeat(values, lengths) for name, values in levels.items()}
    order = np.stack([levels["r4"], levels["r3"], levels["s3"], levels["s4"]])
    out["zone"] = np.array(ZONES)[session_zone_codes_ref(close, lengths, order, 2, np.isnan(prev_close))]
    return out


def _reindexed(data, unit="ns", tz="UTC", shift_days=0):
    """``data`` on its index in another time unit / zone, or shifted by whole days."""
    index = (data.index + pd.Timedelta(days=shift_days)).as_unit(unit).tz_convert(tz)
    return data.set_axis(index)


SESSION_DATASETS = {
    **DATASETS,
    "hourly_gaps": lambda: random_bars(3000, 4, gaps=30).pipe(
        lambda d: d.set_axis(d.index + pd.to_timedelta(np.arange(len(d)) * 59, unit="min"))
    ),
    "seconds_new_york": lambda: _reindexed(random_bars(4000, 6, gaps=8), "s", "America/New_York"),
    "millis_tokyo": lambda: _reindexed(random_bars(4000, 6, gaps=8), "ms", "Asia/Tokyo"),
    "nanos": lambda: _reindexed(random_bars(4000, 6, gaps=8), "ns"),
    # out of time order: days come back
    "unsorted": lambda: random_bars(4000, 10, gaps=8).pipe(lambda d: d.iloc[np.r_[2500:4000, 0:2500]]),
    "before_1970": lambda: _reindexed(random_bars(4000, 9, gaps=8), "ns", "UTC", -20000),
}


@pytest.mark.parametrize("dataset", SESSION_DATASETS)
@pytest.mark.parametrize("start_hour", [0, 1, 13, 22, 23])
def test_previous_sessions_same_as_before(dataset, start_hour):
    from modules.common.swings_sr import previous_sessions

    data = SESSION_DATASETS[dataset]()
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    got = previous_sessions(data, high, low, close, start_hour)
    expected = previous_sessions_ref(data, high, low, close, start_hour)
    for g, e in zip(got[:3], expected[:3], strict=True):
        assert np.array_equal(g, e, equal_nan=True)
    assert np.array_equal(got[3], expected[3])


@pytest.mark.parametrize("dataset", ["clean", "gaps_nans", "seconds_new_york", "before_1970"])
@pytest.mark.parametrize("bars", [None, 1, 51])
def test_utc_seconds_same_as_before(dataset, bars):
    from modules.common.swings_sr import session_ids, utc_seconds

    data = SESSION_DATASETS[dataset]()
    assert np.array_equal(utc_seconds(data, bars), np.floor_divide(_utc_ns_ref(data, bars), 1_000_000_000))
    for anchor, hour in (("day", 0), ("week", 22)):
        assert np.array_equal(session_ids(data, hour, anchor), session_ids_ref(data, hour, anchor))


@pytest.mark.parametrize("dataset", SESSION_DATASETS)
@pytest.mark.parametrize("config", [{}, {"day_start_hour": 22}, {"day_start_hour": 13}, {"day_start_hour": 23}])
@pytest.mark.parametrize("module_id", ["pivot_points", "camarilla"])
def test_session_levels_same_as_before(dataset, config, module_id):
    reference = {"pivot_points": pivot_points_ref, "camarilla": camarilla_ref}[module_id]
    assert_same_outputs(module_id, SESSION_DATASETS[dataset](), config, reference)


# ---- no reference cycles: a module's arrays are freed as soon as the caller drops them ----------
def test_module_outputs_make_no_reference_cycle():
    """A cycle (e.g. a derived-output lambda reading the outputs dict it sits in) keeps the
    arrays until the garbage collector runs: fresh memory and page faults for every later call
    (pivot_points' bias did, 56 MB per million bars). With the collector paused, every output
    must die with the caller's last reference, or else outlive a collection too (a cache)."""
    import gc
    import weakref

    from .test_rewrites import REGISTRY

    data = random_bars(500, 12)
    modules = [cls for cls in REGISTRY.all() if cls.category != "position_sizing"]  # those keep
    # their last constant array on purpose
    for cls in modules:  # first calls apart: a kernel compiled or loaded from Numba's cache now
        cls().calculate_arrays(data, {})  # holds its call's arrays in the compiler's frames a while
    kept = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        for cls in modules:
            arrays = cls().calculate_arrays(data, {})
            refs = {name: weakref.ref(value) for name, value in arrays.items() if isinstance(value, np.ndarray)}
            del arrays
            kept += [(f"{cls.module_id}.{name}", ref) for name, ref in refs.items() if ref() is not None]
        gc.collect()
    finally:
        if enabled:
            gc.enable()
    assert [name for name, ref in kept if ref() is None] == []
