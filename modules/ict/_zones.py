"""Zone tracking shared by the ICT zone modules (gaps, order blocks, breakers, ...).

A zone is a price band ``[bottom, top]`` drawn at the close of its ``created`` bar and active
from the next bar until it is *mitigated*:

* ``close``: a close beyond its far edge (below the bottom of a bullish zone, above the top of
  a bearish one); the zone failed.
* ``wick``: price trades to its far edge (low <= bottom, high >= top): the zone is filled.
* ``touch``: price trades into it at all (low <= top of a bullish zone, high >= bottom of a
  bearish one): the first tap uses it up.

Price is *in* a zone at bar ``t`` when the bar's range overlaps it (low <= top and high >=
bottom), the zone was created before ``t`` and is not mitigated before ``t``. A bar that
mitigates a zone by ``close`` or ``wick`` is not counted as in it (it went through); in
``touch`` mode the touching bar is (that tap is the trade). When several active zones overlap
the bar, the most recently created one is reported.

The active-until-mitigated bookkeeping is sequential, so it runs in Numba: untouched bullish
zones sit in a max-heap keyed on their top, zones price is trading in sit in a short list, so
each bar costs O(zones touched + log zones) rather than O(all active zones).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from modules.base import labels_from_codes

MITIGATION_MODES = ("close", "wick", "touch")
MITIGATION_HELP = (
    "When a zone stops being active: 'close' = a close beyond its far edge, "
    "'wick' = price trades to its far edge (filled), "
    "'touch' = price trades into it."
)
STATES = ("bullish", "bearish", "none")
EVENTS = ("bullish", "bearish", "none")


class Zones(NamedTuple):
    """Zones of one direction, sorted by ``created`` (the bar at whose close each is drawn)."""

    created: np.ndarray  # int64 bar index
    top: np.ndarray  # float64, price units
    bottom: np.ndarray  # float64, price units


def make_zones(created, top, bottom) -> Zones:
    created = np.asarray(created, dtype=np.int64)
    order = np.argsort(created, kind="stable")
    return Zones(
        np.ascontiguousarray(created[order]),
        np.ascontiguousarray(np.asarray(top, dtype=np.float64)[order]),
        np.ascontiguousarray(np.asarray(bottom, dtype=np.float64)[order]),
    )


@njit(cache=True)
def _heap_push(keys, vals, size, key, val, sign):
    """Push onto a binary heap ordered by ``sign * key`` descending (sign=1: max-heap)."""
    i = size
    keys[i] = key
    vals[i] = val
    while i > 0:
        parent = (i - 1) // 2
        if sign * keys[parent] >= sign * keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        vals[parent], vals[i] = vals[i], vals[parent]
        i = parent
    return size + 1


@njit(cache=True)
def _heap_pop(keys, vals, size, sign):
    """Remove the root of the heap; return the new size."""
    size -= 1
    keys[0] = keys[size]
    vals[0] = vals[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and sign * keys[left + 1] > sign * keys[left]:
            child = left + 1
        if sign * keys[i] >= sign * keys[child]:
            break
        keys[child], keys[i] = keys[i], keys[child]
        vals[child], vals[i] = vals[i], vals[child]
        i = child
    return size


@njit(cache=True)
def _track_bullish(created, top, bottom, high, low, close, mode):
    """Bullish (below-price) zones: index of the newest zone each bar is in, and end bars."""
    n = high.shape[0]
    nz = created.shape[0]
    at_bar = np.full(n, -1, dtype=np.int64)
    end = np.full(nz, -1, dtype=np.int64)
    keys = np.empty(nz, dtype=np.float64)
    vals = np.empty(nz, dtype=np.int64)
    size = 0
    touched = np.empty(nz, dtype=np.int64)
    ntouched = 0
    k = 0
    for t in range(n):
        while size > 0 and keys[0] >= low[t]:
            touched[ntouched] = vals[0]
            ntouched += 1
            size = _heap_pop(keys, vals, size, 1.0)
        best = -1
        kept = 0
        for a in range(ntouched):
            z = touched[a]
            if mode == 0:
                dead = close[t] < bottom[z]
            elif mode == 1:
                dead = low[t] <= bottom[z]
            else:
                dead = low[t] <= top[z]
            overlaps = low[t] <= top[z] and high[t] >= bottom[z]
            if dead:
                end[z] = t
                if mode == 2 and overlaps and z > best:
                    best = z
            elif top[z] < low[t]:
                size = _heap_push(keys, vals, size, top[z], z, 1.0)
            else:
                if overlaps and z > best:
                    best = z
                touched[kept] = z
                kept += 1
        ntouched = kept
        at_bar[t] = best
        while k < nz and created[k] <= t:
            size = _heap_push(keys, vals, size, top[k], k, 1.0)
            k += 1
    return at_bar, end


@njit(cache=True)
def _first_above(created, level, series):
    """For each query, the first bar ``t > created`` with ``series[t] > level`` (-1 if none)."""
    n = series.shape[0]
    nq = created.shape[0]
    out = np.full(nq, -1, dtype=np.int64)
    keys = np.empty(nq, dtype=np.float64)
    vals = np.empty(nq, dtype=np.int64)
    size = 0
    k = 0
    for t in range(n):
        while size > 0 and keys[0] < series[t]:  # min-heap: lowest level first
            out[vals[0]] = t
            size = _heap_pop(keys, vals, size, -1.0)
        while k < nq and created[k] <= t:
            size = _heap_push(keys, vals, size, level[k], k, -1.0)
            k += 1
    return out


def first_close_through(zones: Zones, close: np.ndarray, bullish: bool) -> np.ndarray:
    """Per zone, the first later bar closing beyond its far edge (-1 if none yet)."""
    if bullish:
        return _first_above(zones.created, -zones.bottom, -close)
    return _first_above(zones.created, zones.top, close)


def first_above(created: np.ndarray, level: np.ndarray, series: np.ndarray) -> np.ndarray:
    """Per query, the first bar after ``created`` where ``series`` exceeds ``level`` (-1: none)."""
    return _first_above(
        np.asarray(created, dtype=np.int64),
        np.asarray(level, dtype=np.float64),
        np.ascontiguousarray(series, dtype=np.float64),
    )


def track(zones: Zones, high, low, close, bullish: bool, mitigation: str):
    """``(zone index each bar is in or -1, end bar of each zone or -1)`` for one direction."""
    mode = MITIGATION_MODES.index(mitigation)
    if bullish:
        return _track_bullish(zones.created, zones.top, zones.bottom, high, low, close, mode)
    # a bearish zone is a bullish one in the mirror (price -> -price)
    return _track_bullish(zones.created, -zones.bottom, -zones.top, -low, -high, -close, mode)


def codes_to_labels(codes: np.ndarray, values: tuple[str, ...]):
    """Categorical labels from integer codes indexing ``values`` (see ``modules.base``)."""
    return labels_from_codes(codes, values)


@njit(cache=True)
def _assemble(bull_at, bull_created, bull_top, bull_bottom, bear_at, bear_created, bear_top, bear_bottom):
    """Per bar: state code (0 bullish, 1 bearish, 2 none), top and bottom of the reported zone.

    The newer of the two sides' zones wins (bullish on a tie); the other side's entry in
    ``bull_at`` / ``bear_at`` is set to -1 in place, so they then hold the reported zone only.
    """
    n = bull_at.shape[0]
    state = np.full(n, 2, dtype=np.int8)
    top = np.full(n, np.nan)
    bottom = np.full(n, np.nan)
    for t in range(n):
        b, s = bull_at[t], bear_at[t]
        if b >= 0 and (s < 0 or bull_created[b] >= bear_created[s]):
            state[t], top[t], bottom[t] = 0, bull_top[b], bull_bottom[b]
            bear_at[t] = -1
        elif s >= 0:
            state[t], top[t], bottom[t] = 1, bear_top[s], bear_bottom[s]
            bull_at[t] = -1
    return state, top, bottom


def zone_outputs(data_arrays, bull: Zones, bear: Zones, mitigation: str, picks: bool = False):
    """The standard zone outputs: state, in_zone, top, bottom, formed.

    ``state`` is ``bullish`` / ``bearish`` when the bar trades in an active zone of that side
    (the newest if several; on a tie the bullish one), ``top`` / ``bottom`` are that zone's
    edges (NaN otherwise), ``formed`` flags the bar at whose close a new zone is drawn. With
    ``picks``, also returns the index of the reported bullish / bearish zone per bar (-1 when
    the bar is not in one).
    """
    high, low, close = data_arrays
    n = len(close)
    bull_at, _ = track(bull, high, low, close, True, mitigation)
    bear_at, _ = track(bear, high, low, close, False, mitigation)
    state, top, bottom = _assemble(
        bull_at, bull.created, bull.top, bull.bottom, bear_at, bear.created, bear.top, bear.bottom
    )
    formed = np.full(n, 2, dtype=np.int8)
    formed[bear.created] = 1
    formed[bull.created] = 0
    out = {
        "state": codes_to_labels(state, STATES),
        "in_zone": state != 2,
        "top": top,
        "bottom": bottom,
        "formed": codes_to_labels(formed, EVENTS),
    }
    if picks:
        return out, bull_at, bear_at
    return out
