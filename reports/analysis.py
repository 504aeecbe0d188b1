"""What the report's charts and notes show, computed from a run's results.

Pure functions of pandas/numpy data (no Django): the equity curve (money, UTC-indexed), the
trade list and the run's price data. Percentages are percent (5.0 means 5 %).

The price data is only in memory in the worker: ``report_extras`` computes there, once, what
the report takes from it (buy-and-hold, the trade windows) as JSON-ready values stored with the
run; ``stored_benchmark`` and ``stored_trade_windows`` read them back when a page or a PDF is
rendered, which never loads market data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from backtests.engine.jsonable import iso_times, significant_list

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TRADE_COLUMNS = ("entry_time", "exit_time", "entry_price", "exit_price", "pnl", "r_multiple", "direction")
OHLC = ("open", "high", "low", "close")
MARK_FIELDS = ("entry_time", "exit_time", "entry_price", "exit_price", "pnl", "direction")  # a trade on a window
MAX_WINDOW_BARS = 1000  # a longer trade window is stored thinned (the chart is 720 units wide)
SIGNIFICANT_DIGITS = 10  # stored prices and money: far below a chart's resolution, far above a cent
REPORT_DATA_VERSION = 2  # 2: the benchmark's name and the rolling Sharpe and beta


def initial_capital(metrics: Mapping | None, request: Mapping | None) -> float:
    """The run's starting money: the engine's ``initial_capital``, else the request's, else 10,000."""
    return float((metrics or {}).get("initial_capital") or (request or {}).get("initialCapital") or 10_000)


def equity_series(points: Sequence[Sequence]) -> pd.Series:
    """The stored ``[[iso time, equity], ...]`` pairs as a float Series on a UTC index."""
    if not points:
        return pd.Series(dtype=np.float64, index=pd.DatetimeIndex([], tz="UTC"))
    index = pd.to_datetime([p[0] for p in points], utc=True, format="ISO8601")
    return pd.Series(np.array([p[1] for p in points], dtype=np.float64), index=index, name="equity")


def drawdown_pct(equity: pd.Series) -> pd.Series:
    """Percent below the running peak at each point: 0 at a new high, negative below it."""
    values = equity.to_numpy(np.float64)
    if not len(values):
        return equity.copy()
    peaks = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(peaks > 0, (values / peaks - 1) * 100, 0.0)
    return pd.Series(out, index=equity.index, name="drawdown_pct")


def buy_and_hold(close: pd.Series, at: pd.DatetimeIndex, capital: float) -> pd.Series:
    """Equity of ``capital`` put into the instrument at the first close and held: sampled at
    the times ``at`` (the last close at or before each time)."""
    close = close.dropna()
    if close.empty or not len(at):
        return pd.Series(dtype=np.float64, index=pd.DatetimeIndex([], tz="UTC"))
    positions = close.index.searchsorted(at, side="right") - 1
    positions = np.clip(positions, 0, len(close) - 1)
    values = close.to_numpy(np.float64)[positions] / float(close.iloc[0]) * capital
    return pd.Series(values, index=at, name="buy_and_hold")


def monthly_returns(equity: pd.Series, initial_capital: float) -> pd.DataFrame:
    """Returns per calendar month (UTC) in percent: each month's last equity against the
    previous month's last (the first month against ``initial_capital``). Rows are years,
    columns 1–12 plus ``year`` (the compounded year). Months without data are NaN."""
    if len(equity) < 2:
        return pd.DataFrame()
    naive = equity.copy()
    naive.index = equity.index.tz_convert("UTC").tz_localize(None)
    month_end = naive.groupby(naive.index.to_period("M")).last()
    previous = month_end.shift(1)
    previous.iloc[0] = initial_capital or equity.iloc[0]
    returns = (month_end / previous - 1) * 100
    return _month_table(returns)


def stored_monthly_returns(months: Sequence[Sequence] | None) -> pd.DataFrame | None:
    """The monthly returns the worker stored with the metrics (``[["2024-01", percent], ...]``,
    every bar's equity: ``metrics.monthly_returns``) as ``monthly_returns``' table; None when the
    run has none (stored before they were kept), so the caller falls back to the stored curve."""
    if not months:
        return None
    returns = pd.Series(
        [np.nan if v is None else float(v) for _, v in months],
        index=pd.PeriodIndex([str(m) for m, _ in months], freq="M"),
        dtype=np.float64,
    )
    return _month_table(returns)


def _month_table(returns: pd.Series) -> pd.DataFrame:
    """Percent returns on a monthly PeriodIndex → years × (1–12, ``year`` compounded).

    Filled as one NumPy array (a cell-by-cell ``.loc`` assignment cost ~0.1 ms a month)."""
    years = sorted({p.year for p in returns.index})
    row = {year: i for i, year in enumerate(years)}
    cells = np.full((len(years), 13), np.nan)
    for period, value in zip(returns.index, returns.to_numpy(np.float64), strict=True):
        cells[row[period.year], period.month - 1] = value
    months = cells[:, :12]
    counted = ~np.isnan(months)
    compounded = (np.prod(np.where(counted, 1 + months / 100, 1.0), axis=1) - 1) * 100
    cells[:, 12] = np.where(counted.any(axis=1), compounded, np.nan)
    return pd.DataFrame(cells, index=years, columns=list(range(1, 13)) + ["year"], dtype=np.float64)


def trade_frame(trades: Iterable) -> pd.DataFrame:
    """Trades (model instances or anything with the same attributes) as a DataFrame with UTC
    timestamps: entry_time, exit_time, entry_price, exit_price, pnl, r_multiple, direction.

    Built a column at a time (a frame of row tuples, typed afterwards, took 4x as long)."""
    trades = list(trades)
    if not trades:
        return _typed(pd.DataFrame([], columns=list(TRADE_COLUMNS)))

    def numbers(name: str) -> np.ndarray:
        return np.array([getattr(t, name) for t in trades], dtype=np.float64)

    return pd.DataFrame(
        {
            "entry_time": pd.to_datetime([t.entry_time for t in trades], utc=True),
            "exit_time": pd.to_datetime([t.exit_time for t in trades], utc=True),
            "entry_price": numbers("entry_price"),
            "exit_price": numbers("exit_price"),
            "pnl": numbers("pnl"),
            "r_multiple": np.array([np.nan if t.r_multiple is None else t.r_multiple for t in trades], np.float64),
            "direction": [t.direction for t in trades],
        }
    )


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Only ``TRADE_COLUMNS``, times on UTC, numbers float64 (a missing R is NaN); a column
    already of its type (the engine's trades) is taken as it is."""
    columns = {}
    for column in TRADE_COLUMNS:
        values = frame[column]
        if column in ("entry_time", "exit_time"):
            if not (isinstance(values.dtype, pd.DatetimeTZDtype) and str(values.dtype.tz) == "UTC"):
                values = pd.to_datetime(values, utc=True)
        elif column != "direction" and values.dtype != np.float64:
            values = values.astype(np.float64)
        columns[column] = values
    return pd.DataFrame(columns, index=frame.index)


def wins_losses_by(trades: pd.DataFrame, bucket: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Winning and losing trade counts by the entry's UTC ``hour`` (0–23) or ``weekday``
    (Mon–Sun; Sat/Sun dropped when nothing traded then). A zero-pnl trade counts as neither."""
    times = pd.DatetimeIndex(trades["entry_time"]) if len(trades) else pd.DatetimeIndex([], tz="UTC")
    pnl = trades["pnl"].to_numpy(np.float64) if len(trades) else np.zeros(0)
    if bucket == "hour":
        keys, labels = times.hour.to_numpy(), [f"{h:02d}" for h in range(24)]
    elif bucket == "weekday":
        keys, labels = times.day_of_week.to_numpy(), list(WEEKDAYS)
    else:
        raise ValueError(f"unknown bucket {bucket!r}")
    wins = np.bincount(keys[pnl > 0], minlength=len(labels))
    losses = np.bincount(keys[pnl < 0], minlength=len(labels))
    if bucket == "weekday" and wins[5:].sum() + losses[5:].sum() == 0:
        labels, wins, losses = labels[:5], wins[:5], losses[:5]
    return labels, wins, losses


@dataclass
class TradeWindow:
    title: str
    prices: pd.DataFrame
    marks: list[dict] = field(default_factory=list)


def trade_windows(prices: pd.DataFrame | None, trades: pd.DataFrame, *, bars: int = 120) -> list[TradeWindow]:
    """Readable price windows: around the best and the worst trade (at least ``bars`` bars, the
    whole trade plus a margin on each side), each with every trade that falls in it."""
    if prices is None or len(prices) < 2 or not len(trades):
        return []
    index = prices.index
    picks = [("Best trade", int(trades["pnl"].to_numpy().argmax()))]
    worst = int(trades["pnl"].to_numpy().argmin())
    if worst != picks[0][1]:
        picks.append(("Worst trade", worst))
    index_ns = _naive_ns(index)
    entry_ns = _naive_ns(trades["entry_time"])
    exit_ns = _naive_ns(trades["exit_time"])
    # each column once as an array (times as Timestamps, in their zone), not a row Series a trade
    columns = {c: trades[c].array for c in MARK_FIELDS}
    windows = []
    for title, i in picks:
        first = int(np.searchsorted(index_ns, entry_ns[i], side="left"))
        last = int(np.searchsorted(index_ns, exit_ns[i], side="right")) - 1
        held = max(0, last - first)
        pad = max(10, (bars - held) // 2)
        lo, hi = max(0, first - pad), min(len(index) - 1, last + pad)
        window = prices.iloc[lo : hi + 1]
        inside = np.flatnonzero((entry_ns <= index_ns[hi]) & (exit_ns >= index_ns[lo]))
        marks = [dict(zip(MARK_FIELDS, values)) for values in zip(*(columns[c][inside].tolist() for c in MARK_FIELDS))]
        windows.append(
            TradeWindow(
                f"{title}: {columns['direction'][i]} {columns['entry_time'][i]:%Y-%m-%d %H:%M} → "
                f"{columns['exit_time'][i]:%Y-%m-%d %H:%M} UTC, P&L {columns['pnl'][i]:+,.2f}",
                window,
                marks,
            )
        )
    return windows


# ---- computed once in the worker, stored with the run ------------------------------------------


def report_extras(
    prices: pd.DataFrame | None,
    trades: pd.DataFrame,
    equity_index: pd.DatetimeIndex,
    capital: float,
    *,
    benchmark_closes: pd.Series | None = None,
) -> dict:
    """What the report shows from the run's price data, as JSON-ready values to store with the
    run (the worker has the prices in memory; pages and PDFs never load them again):

    - ``has_prices``: whether there were prices to chart (two bars or more);
    - ``benchmark``: ``[[time, money], ...]``, buy-and-hold of ``capital`` (``buy_and_hold``) at
      ``equity_index``, the times of the stored (downsampled) equity curve, bought at its first
      time (bars before it only warmed the indicators up); of ``benchmark_closes`` when the run
      is measured against another series (its closes as of the run's bars), else of the run's
      own market;
    - ``trade_windows``: the best- and worst-trade charts (``trade_windows``), each
      ``{"title", "bars": {"time": [...], "open": [...], "high", "low", "close"}, "marks": [...]}``.
      A window longer than ``MAX_WINDOW_BARS`` bars is stored in buckets of consecutive bars
      (first open, highest high, lowest low, last close), so its extremes stay.

    ``prices``: the OHLC frame the engine ran on (UTC index); ``trades``: the run's trades in
    order, with the ``trade_frame`` columns (others are ignored). Times are ISO 8601 UTC strings;
    prices and money keep ``SIGNIFICANT_DIGITS`` significant digits.
    """
    out: dict = {
        "version": REPORT_DATA_VERSION,
        "has_prices": prices is not None and len(prices) > 1,
        "benchmark": [],
        "trade_windows": [],
    }
    if prices is None:
        return out
    at = pd.DatetimeIndex(equity_index)
    close = prices["close"] if benchmark_closes is None else benchmark_closes
    if len(at):  # bought at the first measured bar, as the engine's buy_and_hold_return_pct: not in a warm-up
        if close.index.is_monotonic_increasing:  # bars in time order: the same bars as the mask, sliced
            close = close.iloc[close.index.searchsorted(at[0], side="left") :]
        else:
            close = close[close.index >= at[0]]
    benchmark = buy_and_hold(close, at, capital)
    out["benchmark"] = [[t, v] for t, v in zip(iso_times(benchmark.index), _rounded(benchmark.to_numpy()))]
    for window in trade_windows(prices, _typed(trades)):
        bars = _thinned(window.prices)
        n = len(bars)
        ohlc = _rounded(np.concatenate([bars[c].to_numpy(np.float64) for c in OHLC]))  # one call, not four
        out["trade_windows"].append(
            {
                "title": window.title,
                "bars": {"time": iso_times(bars.index), **{c: ohlc[k * n : (k + 1) * n] for k, c in enumerate(OHLC)}},
                "marks": _stored_marks(window.marks),
            }
        )
    return out


def _stored_marks(marks: list[dict]) -> list[dict]:
    """A window's trades as stored: times as ISO 8601 UTC, prices and P&L rounded (each kind
    formatted in one call for the window)."""
    times = iso_times([m["entry_time"] for m in marks] + [m["exit_time"] for m in marks])  # both UTC (_typed)
    entries, exits = times[: len(marks)], times[len(marks) :]
    numbers = _rounded([m[key] for m in marks for key in ("entry_price", "exit_price", "pnl")])
    return [
        {
            "entry_time": entry_time,
            "exit_time": exit_time,
            "entry_price": numbers[3 * k],
            "exit_price": numbers[3 * k + 1],
            "pnl": numbers[3 * k + 2],
            "direction": str(mark["direction"]),
        }
        for k, (mark, entry_time, exit_time) in enumerate(zip(marks, entries, exits))
    ]


def stored_benchmark(extras: Mapping | None) -> pd.Series | None:
    """The buy-and-hold curve stored by ``report_extras``, or None when the run has none."""
    points = (extras or {}).get("benchmark")
    return equity_series(points).rename("buy_and_hold") if points else None


def stored_trade_windows(extras: Mapping | None) -> list[TradeWindow]:
    """The trade windows stored by ``report_extras``, as ``trade_windows`` made them."""
    windows = []
    for stored in (extras or {}).get("trade_windows") or []:
        bars = stored["bars"]
        index = pd.to_datetime(bars["time"], utc=True, format="ISO8601")
        prices = pd.DataFrame({c: np.asarray(bars[c], dtype=np.float64) for c in OHLC}, index=index)
        marks = [
            dict(m, entry_time=pd.Timestamp(m["entry_time"]), exit_time=pd.Timestamp(m["exit_time"]))
            for m in stored["marks"]
        ]
        windows.append(TradeWindow(stored["title"], prices, marks))
    return windows


def _thinned(window: pd.DataFrame, max_bars: int = MAX_WINDOW_BARS) -> pd.DataFrame:
    """``window``, or when it has more than ``max_bars`` bars its OHLC in buckets of consecutive
    bars (at each bucket's first time), at most ``max_bars`` of them."""
    n = len(window)
    if n <= max_bars:
        return window
    size = math.ceil(n / max_bars)
    groups = window.loc[:, list(OHLC)].groupby(np.arange(n) // size)
    bars = pd.DataFrame(
        {
            "open": groups["open"].first(),
            "high": groups["high"].max(),
            "low": groups["low"].min(),
            "close": groups["close"].last(),
        }
    )
    bars.index = window.index[::size]
    return bars


def _rounded(values) -> list[float | None]:
    """Plain floats with ``SIGNIFICANT_DIGITS`` significant digits; NaN and infinities (which
    JSON and PostgreSQL's jsonb cannot hold) become None."""
    return significant_list(values, SIGNIFICANT_DIGITS)


def _naive_ns(times) -> np.ndarray:
    """The times as UTC wall times in naive datetime64[ns] (naive times are taken as UTC): each
    time's nanoseconds from the epoch, which a zoned index holds already (no conversions)."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8.view("datetime64[ns]")
