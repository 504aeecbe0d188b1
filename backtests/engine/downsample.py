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

from backtests.engine.jsonable import iso_times, round_list


def downsample_equity(equity: pd.Series, points: int = 600) -> list[list]:
    """``[[iso time, equity], ...]`` of at most about ``points`` pairs (``points`` + 4), in time
    order, equity rounded to 6 decimals.

    Up to ``points`` values are kept as they are. A longer curve is cut into ``points // 2``
    buckets of consecutive bars; each keeps its lowest and its highest value. The first and the
    last value, and the peak and the trough of the largest percentage drawdown, are always kept.
    An empty curve gives ``[]``."""
    values = equity.to_numpy(dtype=np.float64)
    n = len(values)
    if n <= max(points, 2):
        positions = np.arange(n)
    else:
        edges = np.linspace(0, n, max(1, points // 2) + 1).astype(np.int64)
        kept = np.zeros(n, dtype=bool)  # the union of the picks, in order: a mask, not a sort
        kept[[0, n - 1, *_max_drawdown_positions(values)]] = True
        kept[_bucket_extremes(values, edges)] = True
        positions = np.flatnonzero(kept)
    picked = equity.iloc[positions]
    return [[iso, v] for iso, v in zip(_iso_times(picked.index), round_list(picked.to_numpy(np.float64), 6))]


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
