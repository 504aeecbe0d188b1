"""The trade simulator: signals + exit rules + costs + sizing → trades and a per-bar equity curve.

This module turns a :class:`StrategySpec` into the compiled kernel's inputs and its output
back into named columns. The rules themselves (fills, exits, costs, sizing) live in
kernel.py and are written down, with worked examples, in docs/engine.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from modules.position_sizing._base import SIZING_BASES
from modules.registry import get_registry

from . import kernel as K
from .strategy import StrategySpec

ProgressFn = Callable[[str, int, int], None]
DAY_NS = 86_400 * 1_000_000_000


@dataclass
class Signals:
    """Boolean arrays, one value per bar, each true on the close that triggers an order."""

    long_entry: np.ndarray
    short_entry: np.ndarray
    long_exit: np.ndarray
    short_exit: np.ndarray


@dataclass
class SimulatedTrades:
    """Column arrays, one row per trade, in entry order. Bars are integer positions in the data."""

    entry_bar: np.ndarray
    exit_bar: np.ndarray
    direction: np.ndarray  # +1 long, -1 short
    reason: np.ndarray  # index into kernel.EXIT_REASONS
    values: np.ndarray  # float columns, kernel.F_*
    equity: np.ndarray  # mark-to-market equity at each bar's close
    skipped_entries: int = 0

    def __len__(self) -> int:
        return len(self.entry_bar)

    def column(self, index: int) -> np.ndarray:
        return self.values[:, index]


def session_ends(index: pd.DatetimeIndex, session_end: str, timezone: str) -> np.ndarray:
    """True on the last bar of each session. A session runs from ``session_end`` (HH:MM local
    time in ``timezone``) to the same time the next day; a bar belongs to the session in which
    it opens. The data's last bar is never a session end (it is the end of data)."""
    n = len(index)
    out = np.zeros(n, dtype=np.bool_)
    if n < 2:
        return out
    local = index if timezone == "UTC" else index.tz_convert(timezone)
    # wall-clock nanoseconds: the local time read as if it were UTC
    wall = local.tz_localize(None).as_unit("ns").asi8 if timezone != "UTC" else index.as_unit("ns").asi8
    hours, minutes = (int(x) for x in session_end.split(":"))
    offset = (hours * 60 + minutes) * 60 * 1_000_000_000
    session = (wall - offset) // DAY_NS
    out[:-1] = session[:-1] != session[1:]
    return out


def sizing_inputs(spec: StrategySpec, data: pd.DataFrame) -> tuple[int, np.ndarray]:
    """The sizing module's basis code and its primary output per bar."""
    cls = get_registry().get_module(spec.sizing.module_id)
    frame = cls().calculate(data, spec.sizing.config)
    values = frame[cls.column_name(cls.validate_config(spec.sizing.config))].to_numpy(dtype=np.float64)
    return SIZING_BASES.index(cls.sizing_basis), np.ascontiguousarray(values)


def _params(spec: StrategySpec, basis: int) -> np.ndarray:
    p = np.zeros(K.N_PARAMS, dtype=np.float64)
    ex, costs = spec.exit, spec.costs
    for level, value_i, unit_i in (
        (ex.stop_loss, K.P_STOP_VAL, K.P_STOP_UNIT),
        (ex.take_profit, K.P_TP_VAL, K.P_TP_UNIT),
        (ex.trailing_stop, K.P_TRAIL_VAL, K.P_TRAIL_UNIT),
    ):
        if level is not None:
            p[value_i], p[unit_i] = level.value, K.UNIT_CODES[level.unit]
    p[K.P_BE_R] = ex.break_even_at_r or 0.0
    p[K.P_MAX_BARS] = ex.max_bars_in_trade or 0
    p[K.P_OPPOSITE] = float(ex.exit_on_opposite_signal)
    p[K.P_TARGET_FIRST] = float(ex.same_bar_policy == "target_first")
    p[K.P_COMM_PCT] = costs.commission_pct
    p[K.P_COMM_FIXED] = costs.commission_fixed
    p[K.P_SPREAD] = costs.spread
    p[K.P_SPREAD_PCT] = float(costs.spread_unit == "percent")
    p[K.P_SLIP] = costs.slippage
    p[K.P_SLIP_PCT] = float(costs.slippage_unit == "percent")
    p[K.P_PYRAMIDING] = spec.sizing.pyramiding
    p[K.P_CAPITAL] = spec.initial_capital
    p[K.P_SIZE_BASIS] = basis
    p[K.P_CLOSE_SESSION] = float(ex.close_at_session_end)
    p[K.P_MAX_PER_SESSION] = ex.max_trades_per_session or 0
    return p


def _bools(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.bool_)


def _floats(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def simulate(
    spec: StrategySpec,
    signals: Signals,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    *,
    atr: np.ndarray | None = None,
    size_basis: int = 0,
    size_value: np.ndarray | None = None,
    session_end: np.ndarray | None = None,
    stop_level: np.ndarray | None = None,
    target_level: np.ndarray | None = None,
    on_progress: ProgressFn | None = None,
) -> SimulatedTrades:
    """Run the compiled kernel. ``atr`` is needed for ATR units, ``size_value`` is the sizing
    module's output per bar, ``session_end`` marks each session's last bar."""
    n = len(close)
    if on_progress:
        on_progress("simulating", 0, n)
    entries = signals.long_entry[: max(n - 1, 0)] | signals.short_entry[: max(n - 1, 0)]
    capacity = int(np.count_nonzero(entries))
    ti = np.zeros((capacity, K.N_INT), dtype=np.int64)
    tf = np.zeros((capacity, K.N_FLOAT), dtype=np.float64)
    equity = np.empty(n, dtype=np.float64)
    nan = np.full(n, np.nan)
    count, skipped = K.run_kernel(
        _floats(open_),
        _floats(high),
        _floats(low),
        _floats(close),
        _bools(signals.long_entry),
        _bools(signals.short_entry),
        _bools(signals.long_exit),
        _bools(signals.short_exit),
        _bools(session_end if session_end is not None else np.zeros(n, bool)),
        _floats(atr if atr is not None else nan),
        _floats(size_value if size_value is not None else nan),
        _floats(stop_level if stop_level is not None else nan),
        _floats(target_level if target_level is not None else nan),
        _params(spec, size_basis),
        ti,
        tf,
        equity,
    )
    ti, tf = ti[:count], tf[:count]
    order = np.argsort(ti[:, K.I_ENTRY_BAR], kind="stable")
    ti, tf = ti[order], tf[order]
    if on_progress:
        on_progress("simulating", n, n)
    return SimulatedTrades(
        entry_bar=ti[:, K.I_ENTRY_BAR].copy(),
        exit_bar=ti[:, K.I_EXIT_BAR].copy(),
        direction=ti[:, K.I_DIRECTION].copy(),
        reason=ti[:, K.I_REASON].copy(),
        values=tf,
        equity=equity,
        skipped_entries=int(skipped),
    )
