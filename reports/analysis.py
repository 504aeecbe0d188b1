"""What the report's charts and notes show, computed from a run's stored results.

Pure functions of pandas/numpy data (no Django): the equity curve (money, UTC-indexed), the
trade list and the run's price data. Percentages are percent (5.0 means 5 %).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TRADE_COLUMNS = ("entry_time", "exit_time", "entry_price", "exit_price", "pnl", "r_multiple", "direction")


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
    years = sorted({p.year for p in returns.index})
    table = pd.DataFrame(np.nan, index=years, columns=list(range(1, 13)) + ["year"], dtype=np.float64)
    for period, value in returns.items():
        table.loc[period.year, period.month] = value
    for year in years:
        months = table.loc[year, list(range(1, 13))].dropna()
        table.loc[year, "year"] = ((1 + months / 100).prod() - 1) * 100 if len(months) else np.nan
    return table


def trade_frame(trades: Iterable) -> pd.DataFrame:
    """Trades (model instances or anything with the same attributes) as a DataFrame with UTC
    timestamps: entry_time, exit_time, entry_price, exit_price, pnl, r_multiple, direction."""
    rows = [
        (
            t.entry_time,
            t.exit_time,
            t.entry_price,
            t.exit_price,
            t.pnl,
            np.nan if t.r_multiple is None else t.r_multiple,
            t.direction,
        )
        for t in trades
    ]
    frame = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
    for column in ("entry_time", "exit_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("entry_price", "exit_price", "pnl", "r_multiple"):
        frame[column] = frame[column].astype(np.float64)
    return frame


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
    windows = []
    for title, i in picks:
        first = int(np.searchsorted(index_ns, entry_ns[i], side="left"))
        last = int(np.searchsorted(index_ns, exit_ns[i], side="right")) - 1
        held = max(0, last - first)
        pad = max(10, (bars - held) // 2)
        lo, hi = max(0, first - pad), min(len(index) - 1, last + pad)
        window = prices.iloc[lo : hi + 1]
        in_window = (entry_ns <= index_ns[hi]) & (exit_ns >= index_ns[lo])
        marks = [
            {
                "entry_time": row.entry_time,
                "exit_time": row.exit_time,
                "entry_price": row.entry_price,
                "exit_price": row.exit_price,
                "pnl": row.pnl,
                "direction": row.direction,
            }
            for row in trades[in_window].itertuples(index=False)
        ]
        trade = trades.iloc[i]
        windows.append(
            TradeWindow(
                f"{title}: {trade['direction']} {trade['entry_time']:%Y-%m-%d %H:%M} → "
                f"{trade['exit_time']:%Y-%m-%d %H:%M} UTC, P&L {trade['pnl']:+,.2f}",
                window,
                marks,
            )
        )
    return windows


def _naive_ns(times) -> np.ndarray:
    times = pd.DatetimeIndex(times)
    times = times.tz_convert("UTC") if times.tz is not None else times.tz_localize("UTC")
    return times.tz_localize(None).as_unit("ns").to_numpy("datetime64[ns]")
