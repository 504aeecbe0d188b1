"""The trade simulator: signals + exit rules + costs + sizing → trades and a per-bar equity curve.

This module turns a :class:`StrategySpec` into the compiled kernel's inputs and its output
back into named columns. The rules themselves (fills, exits, costs, sizing) live in
kernel.py and are written down, with worked examples, in docs/engine.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from modules.position_sizing._base import SIZING_BASES, PositionSizingModule
from modules.registry import get_registry

from . import jit
from . import kernel as K
from .account import account_params
from .intrabar import FinerBars
from .strategy import StrategySpec

ProgressFn = Callable[[str, int, int], None]
DAY_NS = 86_400 * 1_000_000_000
COUNTER_NAMES = ("skipped", "below_min", "capped", "liquidations", "wiped_bar", "magnified", "unresolved")


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
    counters: dict[str, int] = field(default_factory=dict)  # the kernel's C_* counters by name

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
    # build_strategy admits position_sizing modules only
    cls = cast(type[PositionSizingModule], get_registry().get_module(spec.sizing.module_id))
    arrays = cls().calculate_arrays(data, spec.sizing.config)  # no DataFrame: a portfolio calls this per market
    values = np.asarray(arrays[cls.column_name(cls.validate_config(spec.sizing.config))], dtype=np.float64)
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
    account_params(
        p,
        spec.account,
        spec.instrument,
        commission_per_lot=costs.commission_per_lot,
        commission_min=costs.commission_min,
    )
    return p


def _kernel_input(a: np.ndarray | None, dtype: type, default: np.ndarray) -> np.ndarray:
    """``a`` (``default`` if None) as the kernel takes it (``jit.read_only``: one signature)."""
    return jit.read_only(default if a is None else a, dtype)


_placeholder_arrays: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None


def _placeholders(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read-only arrays of ``n`` NaN, 0.0 and False: the kernel's input for what a strategy does not
    use (ATR, levels, financing, short signals, sessions). The last length's are kept and shared by
    every run: made afresh, their 17 MB per million bars were page faults on every run (several
    milliseconds), and nothing can write to them."""
    global _placeholder_arrays
    kept = _placeholder_arrays
    if kept is None or kept[0] != n:
        arrays = (np.full(n, np.nan), np.zeros(n), np.zeros(n, dtype=np.bool_))
        for array in arrays:
            array.flags.writeable = False
        kept = (n, *arrays)
        _placeholder_arrays = kept
    return kept[1], kept[2], kept[3]


def kernel_arrays(
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
    financing: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], np.ndarray]:
    """The compiled kernel's inputs for one market: ``bars`` (B_*), ``events`` (E_*) and the
    parameters ``p`` (P_*). :func:`simulate` runs them; the portfolio kernel runs many."""
    n = len(close)
    nan, zero, never = _placeholders(n)
    per_bar = {
        K.B_OPEN: open_,
        K.B_HIGH: high,
        K.B_LOW: low,
        K.B_CLOSE: close,
        K.B_ATR: atr,
        K.B_SIZE: size_value,
        K.B_STOP_LEVEL: stop_level,
        K.B_TARGET_LEVEL: target_level,
        K.B_FIN_LONG: financing[0] if financing else None,
        K.B_FIN_SHORT: financing[1] if financing else None,
    }
    bars = tuple(
        _kernel_input(per_bar[i], np.float64, zero if i in (K.B_FIN_LONG, K.B_FIN_SHORT) else nan)
        for i in range(K.N_BARS_ARRAYS)
    )
    flags = {
        K.E_LONG_ENTRY: signals.long_entry,
        K.E_SHORT_ENTRY: signals.short_entry,
        K.E_LONG_EXIT: signals.long_exit,
        K.E_SHORT_EXIT: signals.short_exit,
        K.E_SESSION_END: session_end,
    }
    events = tuple(_kernel_input(flags[i], np.bool_, never) for i in range(K.N_EVENTS_ARRAYS))
    return bars, events, _params(spec, size_basis)


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
    financing: tuple[np.ndarray, np.ndarray] | None = None,
    intrabar: FinerBars | None = None,
    on_progress: ProgressFn | None = None,
) -> SimulatedTrades:
    """Run the compiled kernel. ``atr`` is needed for ATR units, ``size_value`` is the sizing
    module's output per bar, ``session_end`` marks each session's last bar, ``financing`` is
    (long, short) per bar (``financing.financing_rates``), ``intrabar`` the magnifier's finer
    bars (``intrabar.finer_bars``)."""
    n = len(close)
    if on_progress:
        on_progress("simulating", 0, n)
    # a trade per entry signal at most (an entry on the last bar never fills); a bar with both
    # signals counts twice, a row to spare, which spares a pass that ORs them
    last = max(n - 1, 0)
    capacity = int(np.count_nonzero(signals.long_entry[:last])) + int(np.count_nonzero(signals.short_entry[:last]))
    ti = np.zeros((capacity, K.N_INT), dtype=np.int64)
    tf = np.zeros((capacity, K.N_FLOAT), dtype=np.float64)
    equity = np.empty(n, dtype=np.float64)
    bars, events, p = kernel_arrays(
        spec,
        signals,
        open_,
        high,
        low,
        close,
        atr=atr,
        size_basis=size_basis,
        size_value=size_value,
        session_end=session_end,
        stop_level=stop_level,
        target_level=target_level,
        financing=financing,
    )
    no_prices, no_times = np.zeros(0), np.zeros(0, dtype=np.int64)
    finer = (intrabar.open, intrabar.high, intrabar.low) if intrabar else (no_prices, no_prices, no_prices)
    sub = tuple(_kernel_input(a, np.float64, no_prices) for a in finer)
    sub_times = _kernel_input(intrabar.times if intrabar else None, np.int64, no_times)
    bar_edges = _kernel_input(intrabar.edges if intrabar else None, np.int64, no_times)
    counters = np.zeros(K.N_COUNTERS, dtype=np.int64)
    count = K.run_kernel(bars, events, sub, sub_times, bar_edges, p, ti, tf, equity, counters, financing is not None)
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
        skipped_entries=int(counters[K.C_SKIPPED]),
        counters={name: int(counters[i]) for i, name in enumerate(COUNTER_NAMES)},
    )
