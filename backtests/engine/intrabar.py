"""The bar magnifier's input (pure): each bar's finer bars, in time order.

``exit.intrabar`` names a finer timeframe; the caller loads its bars for the same span and the
kernel walks a bar's finer bars whenever the bar alone cannot say what happened first (stop and
target both inside it, or a trailing stop that the bar's own move shifts). See docs/engine.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .validate import check_bars


def finer_bars(
    index: pd.DatetimeIndex, finer: pd.DataFrame
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray, int]:
    """((open, high, low) of the finer bars, ``start`` (int64, n + 1) with bar t's finer bars at
    ``start[t]`` .. ``start[t + 1] - 1``, how many bars have none). A finer bar belongs to the
    bar whose open it is at or after and the next bar's open it is before; the last bar spans
    one median bar step."""
    check_bars(finer, ("open", "high", "low"))  # the close of a finer bar is never read
    opens = index.as_unit("ns").asi8
    finer_times = pd.DatetimeIndex(finer.index).as_unit("ns").asi8
    step = int(np.median(np.diff(opens))) if len(opens) > 1 else 0
    edges = np.append(opens, opens[-1] + step)
    start = np.searchsorted(finer_times, edges, side="left").astype(np.int64)
    arrays = tuple(np.ascontiguousarray(finer[c].to_numpy(dtype=np.float64)) for c in ("open", "high", "low"))
    empty = int(np.count_nonzero(start[1:] == start[:-1]))
    return (arrays[0], arrays[1], arrays[2]), start, empty
