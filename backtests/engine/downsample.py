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
        keep = {0, n - 1, *_max_drawdown_positions(values)}
        edges = np.linspace(0, n, max(1, points // 2) + 1).astype(np.int64)
        for start, end in zip(edges[:-1], edges[1:]):
            if end > start:
                bucket = values[start:end]
                keep.add(int(start + np.argmin(bucket)))
                keep.add(int(start + np.argmax(bucket)))
        positions = np.array(sorted(keep))
    picked = equity.iloc[positions]
    # an equity curve is indexed by time (a DatetimeIndex); pandas types a Series' labels as Hashable
    return [[cast(pd.Timestamp, ts).isoformat(), round(float(v), 6)] for ts, v in picked.items()]


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
