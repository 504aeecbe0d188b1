"""OHLCV resampling to a higher timeframe. Pure NumPy/pandas, no Django.

Bars are labelled by their **open** time. A higher-timeframe (HTF) bar of ``H`` seconds covers
the base bars whose open time falls in ``[T, T + H)``, where ``T`` is a multiple of ``H`` since
the Unix epoch -- every supported timeframe divides a day, so HTF bars start on UTC day
boundaries (``1d`` bars are UTC calendar days, ``4h`` bars start at 00:00, 04:00, ... UTC).
Aggregation: open = first, high = max, low = min, close = last, volume = sum (the same as
``DataFrame.resample(f"{H}s", label="left", closed="left").agg(...)`` with empty periods
dropped). Periods without bars (weekends, gaps) produce no HTF bar.

When is an HTF bar usable without look-ahead? It is complete at ``T + H``, i.e. at the close
of the base bar that opens at ``T + H - base``; :func:`completed_index` maps each base bar to
the last HTF bar whose close time is at or before the base bar's close time.

Shared by :mod:`modules.mtf.htf_filter` and the market-data layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# the timeframe table and helpers live in modules.common.timeframes; re-exported for older imports
from modules.common.timeframes import TIMEFRAME_SECONDS as TIMEFRAME_SECONDS
from modules.common.timeframes import timeframe_label as timeframe_label
from modules.common.timeframes import timeframe_seconds
from modules.errors import ModuleDataError

OHLCV = ("open", "high", "low", "close", "volume")
_NS = 1_000_000_000


def datetime_index(data: pd.DataFrame | pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The data's index, checked to be a timezone-aware DatetimeIndex."""
    index = data.index if isinstance(data, pd.DataFrame) else data
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ModuleDataError("data needs a timezone-aware UTC DatetimeIndex")
    return index


def open_times_ns(data: pd.DataFrame | pd.DatetimeIndex) -> np.ndarray:
    """Bar open times as int64 nanoseconds since the epoch (UTC); checks the index."""
    ns = datetime_index(data).tz_convert("UTC").as_unit("ns").asi8
    if len(ns) > 1 and not (ns[1:] > ns[:-1]).all():
        raise ModuleDataError("the index must be strictly increasing (sorted, no duplicates)")
    return ns


def infer_timeframe_seconds(data: pd.DataFrame | pd.DatetimeIndex) -> int:
    """The data's bar size: the median spacing of consecutive open times, in whole seconds.

    Gaps (nights, weekends, missing bars) do not move the median on real data. Needs two bars.
    """
    ns = open_times_ns(data)
    if len(ns) < 2:
        raise ModuleDataError("cannot infer the timeframe from fewer than 2 bars")
    seconds = int(round(float(np.median(np.diff(ns))) / _NS))
    if seconds <= 0:
        raise ModuleDataError("cannot infer the timeframe: bars less than a second apart")
    return seconds


def period_starts(open_ns: np.ndarray, seconds: int) -> np.ndarray:
    """Open time (ns) of the ``seconds``-long, epoch-aligned period each bar opens in."""
    size = np.int64(seconds) * _NS
    return open_ns - np.mod(open_ns, size)


def group_bounds(open_ns: np.ndarray, seconds: int) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, first_rows)``: the open time (ns) of each non-empty period and the row
    where its bars begin (``open_ns`` sorted ascending)."""
    buckets = period_starts(open_ns, seconds)
    if len(buckets) == 0:
        return buckets, np.zeros(0, dtype=np.intp)
    first = np.flatnonzero(np.concatenate(([True], buckets[1:] != buckets[:-1])))
    return buckets[first], first


def resample_ohlcv(data: pd.DataFrame, timeframe: str | int) -> pd.DataFrame:
    """Aggregate ``data`` (OHLCV on a UTC DatetimeIndex of bar open times) to ``timeframe``
    (a key of :data:`TIMEFRAME_SECONDS` or seconds).

    Returns a DataFrame of the OHLCV columns present in ``data``, indexed by the HTF bars'
    open times (UTC, named and with the resolution of ``data.index``); only periods that
    contain bars appear.
    Other columns are dropped. The last HTF bar may be incomplete (it holds the bars so far):
    use :func:`completed_index` to align without look-ahead.
    """
    seconds = timeframe if isinstance(timeframe, int) else timeframe_seconds(timeframe)
    source = datetime_index(data)
    open_ns = open_times_ns(source)
    starts, first = group_bounds(open_ns, seconds)
    last = np.concatenate((first[1:], [len(open_ns)])) - 1 if len(first) else first
    columns = {}
    for name in OHLCV:
        if name not in data.columns:
            continue
        values = np.ascontiguousarray(data[name].to_numpy(dtype=np.float64))
        if len(first) == 0:
            columns[name] = values[:0]
        elif name == "open":
            columns[name] = values[first]
        elif name == "close":
            columns[name] = values[last]
        elif name == "high":
            columns[name] = np.maximum.reduceat(values, first)
        elif name == "low":
            columns[name] = np.minimum.reduceat(values, first)
        else:
            columns[name] = np.add.reduceat(values, first)
    index = pd.DatetimeIndex(pd.to_datetime(starts, unit="ns", utc=True), name=source.name)
    index = index.as_unit(source.unit)  # keep the input's resolution
    return pd.DataFrame(columns, index=index, copy=False)


def completed_index(
    base_open_ns: np.ndarray, base_seconds: int, htf_open_ns: np.ndarray, htf_seconds: int
) -> np.ndarray:
    """For each base bar, the position of the last HTF bar complete at its close, else -1.

    HTF bar ``j`` (open ``T_j``) is complete at ``T_j + htf``; base bar ``i`` (open ``t_i``)
    closes at ``t_i + base``. The result is the largest ``j`` with
    ``T_j + htf <= t_i + base``: every base bar inside HTF bar ``j`` has closed by then, so
    nothing after base bar ``i`` is read.
    """
    complete_at = htf_open_ns + np.int64(htf_seconds) * _NS
    closes = base_open_ns + np.int64(base_seconds) * _NS
    return np.searchsorted(complete_at, closes, side="right").astype(np.intp) - 1
