"""Recursive smoothing kernels (Numba) that TA-Lib does not offer."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _smma(values, period):
    n = values.shape[0]
    out = np.full(n, np.nan)
    start = 0
    while start < n and np.isnan(values[start]):
        start += 1
    if start + period > n:
        return out
    total = 0.0
    for i in range(start, start + period):
        total += values[i]
    prev = total / period
    out[start + period - 1] = prev
    for i in range(start + period, n):
        prev = (prev * (period - 1) + values[i]) / period
        out[i] = prev
    return out


def smma(values: np.ndarray, period: int) -> np.ndarray:
    """Smoothed moving average (Wilder's smoothing, RMA): alpha = 1 / ``period``.

    Seeded with the simple mean of the first ``period`` values after any leading NaNs;
    ``SMMA[t] = (SMMA[t-1] * (period - 1) + x[t]) / period``. Earlier bars are NaN.
    """
    return _smma(np.ascontiguousarray(values, dtype=np.float64), int(period))
