"""The engine's own check of the bars it is handed (pure).

The service layer validates provider data (``marketdata/validation.py``); this closes the direct
path (``run_backtest``, ``simulate_signals``): a frame with a non-finite or non-positive price,
a high below its low, or timestamps that are not strictly increasing is refused with
``EngineError`` code ``INVALID_DATA`` naming the first bad bar, instead of silently corrupting
every indicator after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from . import jit
from .errors import EngineError

PRICE_COLUMNS = ("open", "high", "low", "close")
FINER_COLUMNS = ("open", "high", "low")  # the bar magnifier's: a finer bar's close is never read


def check_bars(data: pd.DataFrame, columns: tuple[str, ...] = PRICE_COLUMNS) -> None:
    """Raise ``EngineError(code="INVALID_DATA")`` on the first bad bar; ``details`` holds
    ``bar`` (its position), ``time`` (ISO, when the index has times), ``column`` and ``reason``.
    ``columns``: the price columns checked (and required); high and low always."""
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise EngineError(
            f"the data has no {', '.join(missing)} column", code="INVALID_DATA", details={"columns": missing}
        )
    prices = {c: data[c].to_numpy(dtype=np.float64) for c in columns}
    index = data.index
    if _plainly_valid(prices, index):
        return
    problems: list[tuple[int, int, str, str]] = []  # (first bad bar, check order, column, reason)
    for column, values in prices.items():
        bad = ~np.isfinite(values)
        if bad.any():
            problems.append((int(np.argmax(bad)), 0, column, "is not a finite number (NaN or infinity)"))
            continue
        bad = values <= 0
        if bad.any():
            problems.append((int(np.argmax(bad)), 1, column, "is not positive"))
    with np.errstate(invalid="ignore"):
        bad = prices["high"] < prices["low"]
    if bad.any():
        problems.append((int(np.argmax(bad)), 2, "high", "is below the low"))
    if isinstance(index, pd.DatetimeIndex) and len(index) > 1:
        steps = np.diff(index.as_unit("ns").asi8)
        bad = steps <= 0
        if bad.any():
            first = int(np.argmax(bad)) + 1
            reason = "repeats the previous bar's time" if steps[first - 1] == 0 else "is before the previous bar"
            problems.append((first, 3, "timestamp", reason))
    if not problems:
        return
    bar, _, column, reason = min(problems)
    details: dict = {"bar": bar, "column": column, "reason": reason}
    if isinstance(index, pd.DatetimeIndex):
        details["time"] = index[bar].isoformat()
    where = f"bar {bar}" + (f" ({details['time']})" if "time" in details else "")
    value = "" if column == "timestamp" else f" = {data[column].iloc[bar]!r}"
    raise EngineError(f"invalid data at {where}: {column}{value} {reason}", code="INVALID_DATA", details=details)


@njit(cache=True, nogil=True)
def _ohlc_plainly_valid(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, times: np.ndarray
) -> bool:
    """``_plainly_valid`` for the four prices and int64 times in one pass, no temporaries: every
    open, low and close above 0, every open, high and close below infinity, high >= low (a NaN
    fails each), times strictly increasing. Accumulated without branches (vector code)."""
    n = close.shape[0]
    ok = n > 0
    for i in range(n):
        o = open_[i]
        c = close[i]
        hi = high[i]
        lo = low[i]
        ok &= (o > 0.0) & (o < np.inf) & (c > 0.0) & (c < np.inf) & (lo > 0.0) & (hi < np.inf) & (hi >= lo)
    for i in range(1, times.shape[0]):
        ok &= times[i] > times[i - 1]
    return ok


def _plainly_valid(prices: dict[str, np.ndarray], index: pd.Index) -> bool:
    """Whether every check passes, by reductions that make no per-bar temporaries but two bool
    arrays (a few ms per million bars, against the per-check masks that find the first bad bar).
    A NaN fails every comparison, so a min or max that is NaN fails too; high needs no min and
    low no max, as low <= high is checked."""
    high, low = prices["high"], prices["low"]
    if len(high) == 0:
        return False  # the checks below need a value; the full checks handle an empty frame
    if (
        tuple(prices) in (PRICE_COLUMNS, FINER_COLUMNS)
        and isinstance(index, pd.DatetimeIndex)
        and jit.usable(_ohlc_plainly_valid)
    ):
        # the engine's usual frame, or the magnifier's finer bars (no close: the open stands in for it,
        # its checks are the close's): one compiled pass (about a quarter of the reductions' time)
        open_, high_, low_ = (jit.read_only(prices[c], np.float64) for c in FINER_COLUMNS)
        close = jit.read_only(prices["close"], np.float64) if "close" in prices else open_
        return bool(_ohlc_plainly_valid(open_, high_, low_, close, jit.read_only(index.asi8, np.int64)))
    for column, values in prices.items():
        if column != "high" and not values.min() > 0:
            return False
        if column != "low" and not values.max() < np.inf:
            return False
    if not np.greater_equal(high, low).all():
        return False
    if isinstance(index, pd.DatetimeIndex) and len(index) > 1:
        times = index.asi8  # in the index's own unit: the order is the same in any
        return bool(np.greater(times[1:], times[:-1]).all())
    return True
