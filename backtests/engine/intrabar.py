"""The bar magnifier's input (pure): the finer bars, in time order, and the bars' time edges.

``exit.intrabar`` names a finer timeframe; the caller loads its bars for the same span and the
kernel walks a bar's finer bars whenever the bar alone cannot say what happened first (stop and
target both inside it, or a trailing stop that the bar's own move shifts). Nothing is mapped up
front: the kernel finds a bar's finer bars by a binary search in their times when it walks that
bar, so bars without ambiguity cost nothing. See docs/engine.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .validate import FINER_COLUMNS, check_bars


@dataclass(frozen=True)
class FinerBars:
    """The finer bars (``open``, ``high``, ``low`` float64 and ``times`` int64 ns, increasing) and
    the bars' ``edges`` (int64 ns, n + 1): bar t's finer bars are those timed at or after
    ``edges[t]`` and before ``edges[t + 1]``. ``any_bar`` says whether some bar has finer bars."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    times: np.ndarray
    edges: np.ndarray
    any_bar: bool


def finer_bars(index: pd.DatetimeIndex, finer: pd.DataFrame, *, checked: bool = False) -> FinerBars:
    """``finer`` checked (``validate.check_bars`` on ``FINER_COLUMNS``; ``checked``: the caller has
    done so) and arranged for the kernel. A finer bar belongs to the bar whose open it is at or
    after and the next bar's open it is before; the last bar spans one median bar step."""
    if not checked:
        check_bars(finer, FINER_COLUMNS)
    opens = _nanoseconds(index)
    times = _nanoseconds(pd.DatetimeIndex(finer.index))
    edges = np.append(opens, opens[-1] + median_step(opens))
    first, end = np.searchsorted(times, edges[[0, -1]], side="left")
    open_, high, low = (np.ascontiguousarray(finer[c].to_numpy(dtype=np.float64)) for c in FINER_COLUMNS)
    return FinerBars(open=open_, high=high, low=low, times=times, edges=edges, any_bar=bool(end > first))


def median_step(opens: np.ndarray) -> int:
    """The median of the steps between the bar opens ``opens`` (int64 ns), 0 for a single bar.
    Bars mostly one step apart (a regular series with gaps) are answered by two counts: the
    step at the middle of the array is the median when at least half the steps equal it on both
    sides of the middle; otherwise ``np.median`` (a selection that is slow on so many equal
    values, ~0.15 s per million bars)."""
    if len(opens) < 2:
        return 0
    steps = np.diff(opens)
    middle = len(steps) // 2
    candidate = steps[middle]
    below = int(np.count_nonzero(steps < candidate))
    equal = int(np.count_nonzero(steps == candidate))
    lower = middle - 1 if len(steps) % 2 == 0 else middle  # the middle pair's first (even) or the middle
    if below <= lower and middle < below + equal:
        return int(candidate)
    return int(np.median(steps))


def _nanoseconds(index: pd.DatetimeIndex) -> np.ndarray:
    """The times as int64 ns, without the copy ``as_unit`` makes of an index already in ns."""
    return index.asi8 if index.unit == "ns" else index.as_unit("ns").asi8
