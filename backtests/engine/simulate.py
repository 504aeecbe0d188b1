"""The trade simulator: entry signals + exit rules → trades and a per-bar equity curve.

Semantics (no look-ahead):
- A signal on bar t's close enters at bar t+1's open. One position at a time; a signal while
  a position is open is ignored. A signal on the bar a position exits lets the next trade
  enter on the following bar's open.
- Stop and target are checked from the entry bar on, against each bar's low and high. A bar
  that opens beyond a level (a gap) fills at its open. If stop and target both fall inside one
  bar, the stop fills first (the conservative reading of an unknown intrabar path).
- A position still open at the last bar closes at that bar's close (``end_of_data``).
The cost grows with the number of trades, not with Python work per bar: each trade's exit is
found with vectorised scans over growing windows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .strategy import StrategySpec

ProgressFn = Callable[[str, int, int], None]
_FIRST_WINDOW = 64


@dataclass
class SimulatedTrades:
    """Column arrays, one row per trade. Bars are integer positions in the data."""

    entry_bar: np.ndarray
    exit_bar: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    size: np.ndarray
    pnl: np.ndarray
    pnl_pct: np.ndarray
    r_multiple: np.ndarray
    exit_reason: np.ndarray
    equity: np.ndarray  # mark-to-market equity at each bar's close

    def __len__(self) -> int:
        return len(self.entry_bar)


def _first_hit(low: np.ndarray, high: np.ndarray, start: int, stop: float, target: float,
               is_long: bool) -> tuple[int, bool, bool]:
    """First bar >= start where the stop or the target is touched: (bar, stop_hit, target_hit);
    bar == -1 when neither is touched before the data ends."""
    n = len(low)
    window = _FIRST_WINDOW
    pos = start
    while pos < n:
        end = min(n, pos + window)
        lo, hi = low[pos:end], high[pos:end]
        if is_long:
            stop_hit, target_hit = lo <= stop, hi >= target
        else:
            stop_hit, target_hit = hi >= stop, lo <= target
        either = stop_hit | target_hit
        k = int(np.argmax(either))
        if either[k]:
            return pos + k, bool(stop_hit[k]), bool(target_hit[k])
        pos = end
        window *= 4
    return -1, False, False


def simulate(spec: StrategySpec, signal: np.ndarray, open_: np.ndarray, high: np.ndarray,
             low: np.ndarray, close: np.ndarray, on_progress: ProgressFn | None = None) -> SimulatedTrades:
    n = len(close)
    is_long = spec.direction == "Long"
    sign = 1.0 if is_long else -1.0
    stop_pct = spec.exit.stop_loss_pct
    target_pct = spec.exit.take_profit_pct
    # Signals on the last bar cannot be filled.
    signal_bars = np.flatnonzero(signal[: max(n - 1, 0)])
    rows: list[tuple] = []
    cash = spec.initial_capital
    equity = np.empty(n, dtype=np.float64)
    last_marked = 0
    cursor = 0  # index into signal_bars
    next_report = 0
    inf = np.inf
    while cursor < len(signal_bars):
        signal_bar = int(signal_bars[cursor])
        entry_bar = signal_bar + 1
        entry_price = float(open_[entry_bar])
        stop_price = entry_price * (1 - sign * stop_pct / 100) if stop_pct is not None else (-inf if is_long else inf)
        target_price = entry_price * (1 + sign * target_pct / 100) if target_pct is not None else (inf if is_long else -inf)
        size = _position_size(spec, cash, entry_price, stop_price)
        bar, stop_hit, target_hit = _first_hit(low, high, entry_bar, stop_price, target_price, is_long)
        if bar == -1:
            exit_bar, exit_price, reason = n - 1, float(close[n - 1]), "end_of_data"
        else:
            exit_bar = bar
            level, reason = (stop_price, "stop") if stop_hit else (target_price, "target")
            bar_open = float(open_[bar])
            gapped = (bar_open <= level) if (is_long == (reason == "stop")) else (bar_open >= level)
            exit_price = bar_open if (bar > entry_bar and gapped) else float(level)
        # Mark to market: flat bars hold cash, the open trade's bars move with close.
        equity[last_marked:entry_bar] = cash
        held = slice(entry_bar, exit_bar)
        equity[held] = cash + sign * size * (close[held] - entry_price)
        pnl = sign * size * (exit_price - entry_price)
        cash += pnl
        equity[exit_bar] = cash
        last_marked = exit_bar + 1
        risk_per_unit = abs(entry_price - stop_price) if stop_pct is not None else np.nan
        r_multiple = sign * (exit_price - entry_price) / risk_per_unit if stop_pct is not None else np.nan
        rows.append((entry_bar, exit_bar, entry_price, exit_price, size, pnl,
                     sign * (exit_price / entry_price - 1) * 100, r_multiple, reason))
        cursor = int(np.searchsorted(signal_bars, exit_bar, side="left"))
        if on_progress and exit_bar >= next_report:
            on_progress("simulating", exit_bar, n)
            next_report = exit_bar + max(1, n // 50)
        if reason == "end_of_data":
            break
    equity[last_marked:] = cash
    if on_progress:
        on_progress("simulating", n, n)
    columns = list(zip(*rows)) if rows else [[] for _ in range(9)]
    return SimulatedTrades(
        entry_bar=np.asarray(columns[0], dtype=np.int64), exit_bar=np.asarray(columns[1], dtype=np.int64),
        entry_price=np.asarray(columns[2], dtype=np.float64), exit_price=np.asarray(columns[3], dtype=np.float64),
        size=np.asarray(columns[4], dtype=np.float64), pnl=np.asarray(columns[5], dtype=np.float64),
        pnl_pct=np.asarray(columns[6], dtype=np.float64), r_multiple=np.asarray(columns[7], dtype=np.float64),
        exit_reason=np.asarray(columns[8], dtype=object), equity=equity)


def _position_size(spec: StrategySpec, equity: float, entry_price: float, stop_price: float) -> float:
    """Units to trade. Fixed fraction: risk ``risk_pct`` of equity over the stop distance;
    without a stop, or with ``all_in``, the whole equity at the entry price."""
    if equity <= 0:
        return 0.0
    if spec.sizing.method == "fixed_fraction" and np.isfinite(stop_price):
        distance = abs(entry_price - stop_price)
        return equity * spec.sizing.risk_pct / 100 / distance
    return equity / entry_price
