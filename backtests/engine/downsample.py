"""Thinning an equity curve for storage and drawing. Pure: numpy and pandas.

A stored curve is drawn by every page, PDF and chart, and a reader compares the drawn
drawdown with the computed ``max_drawdown_pct``. Taking every n-th point would cut off the
peaks and troughs between the picks, so the thinned curve keeps each bucket's minimum and
maximum, and always the peak and the trough of the maximum drawdown: the drawn drawdown is
the computed one.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd
from numba import njit

from backtests.engine import jit
from backtests.engine.jsonable import iso_times, round_list


def downsample_equity(equity: pd.Series, points: int = 600) -> list[list]:
    """``[[iso time, equity], ...]`` of at most about ``points`` pairs (``points`` + 4), in time
    order, equity rounded to 6 decimals.

    Up to ``points`` values are kept as they are. A longer curve is cut into ``points // 2``
    buckets of consecutive bars; each keeps its lowest and its highest value. The first and the
    last value, and the peak and the trough of the largest percentage drawdown, are always kept.
    An empty curve gives ``[]``."""
    values = equity.to_numpy(dtype=np.float64)
    positions = _kept_positions(values, points)
    times = _iso_times(equity.index[positions])
    return list(map(list, zip(times, round_list(values[positions], 6))))


def equity_columns(equity: pd.Series, points: int = 600) -> dict | list[list]:
    """The points ``downsample_equity`` keeps, stored as columns: ``{"start": first time in
    seconds since 1970 UTC, "steps": [0, seconds from each point to the next, ...], "equity":
    [...]}`` (equity rounded to 6 decimals). A tenth of the text of the ``[[iso time, equity],
    ...]`` pairs for a database to parse and a reader to load, and nothing formatted that no one
    may read; ``curve_points`` gives the pairs back. A curve whose times are not all whole UTC
    seconds (none of the engine's) is stored as the pairs."""
    values = equity.to_numpy(dtype=np.float64)
    positions = _kept_positions(values, points)
    index = equity.index[positions]
    if isinstance(index, pd.DatetimeIndex) and str(index.tz) == "UTC" and not index.hasnans:
        ns = index.as_unit("ns").asi8
        if not (ns % 1_000_000_000).any():
            seconds = ns // 1_000_000_000
            steps = np.diff(seconds, prepend=seconds[:1])
            start = int(seconds[0]) if len(seconds) else 0
            return {"start": start, "steps": steps.tolist(), "equity": round_list(values[positions], 6)}
    return list(map(list, zip(_iso_times(index), round_list(values[positions], 6))))


def curve_points(stored: dict | list | None) -> tuple[list[str], list[float]]:
    """(ISO times, equity) of a stored curve: ``equity_columns``' columns or the older
    ``[[iso time, equity], ...]`` pairs (what ``downsample_equity`` gives). None: ([], [])."""
    if not stored:
        return [], []
    if isinstance(stored, dict):
        seconds = stored["start"] + np.cumsum(np.asarray(stored["steps"], dtype=np.int64))
        return iso_times(pd.DatetimeIndex(seconds * 1_000_000_000, tz="UTC")), list(stored["equity"])
    return [p[0] for p in stored], [p[1] for p in stored]


def _kept_positions(values: np.ndarray, points: int) -> np.ndarray:
    """The positions ``downsample_equity`` keeps of ``values``, in order."""
    n = len(values)
    if n <= max(points, 2):
        return np.arange(n)
    edges = np.linspace(0, n, max(1, points // 2) + 1).astype(np.int64)
    kept = np.zeros(n, dtype=bool)  # the union of the picks, in order: a mask, not a sort
    compiled = jit.usable(_mark_kept) and np.isfinite(values).all()
    if not (compiled and _mark_kept(jit.read_only(values, np.float64), jit.read_only(edges, np.int64), kept)):
        # NaN, infinities, a fall that overflows (NumPy decides as argmin and nan_to_num do), not compiled yet
        kept[[0, n - 1, *_max_drawdown_positions(values)]] = True
        kept[_bucket_extremes(values, edges)] = True
    return np.flatnonzero(kept)


@njit(cache=True, nogil=True)
def _mark_kept(values, edges, kept):  # pragma: no cover - compiled
    """In one pass over finite ``values``, marks in ``kept`` what ``downsample_equity`` keeps:
    the first and the last value, each bucket's first lowest and first highest value (buckets
    ``[edges[k], edges[k + 1])``, as ``_bucket_extremes``), and the peak and the trough of the
    largest fall (as ``_max_drawdown_positions``: the same division, the first of equal falls and
    of equal peaks). False, having marked nothing, when a fall is not finite (a difference of
    values near the largest double): the NumPy path decides that one."""
    n = values.shape[0]
    peak, peak_at = values[0], 0
    worst, trough, worst_peak = 0.0, -1, 0
    for i in range(n):
        v = values[i]
        if v > peak:
            peak, peak_at = v, i
        fall = (peak - v) / peak if peak > 0 else 0.0
        if not np.isfinite(fall):
            return False
        if fall > worst:
            worst, trough, worst_peak = fall, i, peak_at
    kept[0] = True
    kept[n - 1] = True
    if trough >= 0:
        kept[worst_peak] = True
        kept[trough] = True
    for k in range(edges.shape[0] - 1):
        start, end = edges[k], edges[k + 1]
        if end <= start:
            continue
        low_at = high_at = start
        for i in range(start + 1, end):
            if values[i] < values[low_at]:
                low_at = i
            if values[i] > values[high_at]:
                high_at = i
        kept[low_at] = True
        kept[high_at] = True
    return True


def _bucket_extremes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The position of each bucket's lowest and highest value (the first one, as np.argmin and
    np.argmax give), buckets ``[edges[k], edges[k + 1])``; vectorised, one loop only with NaNs."""
    starts = np.unique(edges[:-1][edges[1:] > edges[:-1]])  # the non-empty buckets
    if np.isnan(values).any():
        ends = np.append(starts[1:], len(values))
        return np.array(
            [p for a, b in zip(starts, ends) for p in (a + np.argmin(values[a:b]), a + np.argmax(values[a:b]))]
        )
    bucket = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(values))))
    found = []
    for extreme in (np.minimum, np.maximum):
        hit = values == extreme.reduceat(values, starts)[bucket]
        found.append(np.flatnonzero(hit)[np.unique(bucket[hit], return_index=True)[1]])
    return np.concatenate(found)


def _iso_times(index: pd.Index) -> list[str]:
    """``Timestamp.isoformat()`` of each label, vectorised for the usual case (UTC times on whole
    seconds: '2024-01-01T00:00:00+00:00'); any other index is formatted one by one."""
    if isinstance(index, pd.DatetimeIndex) and str(index.tz) == "UTC":
        return iso_times(index)
    # an equity curve is indexed by time; pandas types the labels of an Index as Hashable
    return [cast(pd.Timestamp, ts).isoformat() for ts in index]


def _max_drawdown_positions(values: np.ndarray) -> tuple[int, ...]:
    """(peak, trough) positions of the largest fall in percent of the running peak (as
    ``metrics.max_drawdown_pct`` measures it); () when the curve never falls."""
    peaks = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, (peaks - values) / peaks, 0.0)
    falls = np.nan_to_num(falls, nan=0.0)
    trough = int(np.argmax(falls))
    if falls[trough] <= 0:
        return ()
    return int(np.argmax(values[: trough + 1])), trough
