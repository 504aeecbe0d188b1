"""Portfolio backtests: one strategy over a basket of markets with one account.

``run_portfolio(datas, spec, rules)`` computes each market's signals and per-bar inputs with
the single-market pipeline (``run.market_signals``, ``run.market_inputs``,
``simulate.kernel_arrays``), then walks the union of the markets' timestamps in one compiled
loop that reuses the single-market kernel's helpers (entries, stops, targets, trade records):

- one account: the cash (``balance``: capital + closed P&L - open entries' commissions) is
  shared; an entry needs free cash for its notional at the fill plus its commission (free cash
  = balance - the notional of the open positions at their entry fills; no leverage), else it is
  skipped and counted;
- ``max_open_positions`` caps the open entries over all markets, ``max_per_market`` per market;
- when several markets enter on the same bar, ``rank_by`` orders them (highest value on the
  signal bar first; ties and NaN by the order of the markets); all exits of a bar fill first;
- each entry is sized by the spec's sizing module against its market's budget: the portfolio's
  equity at the open times the market's allocation weight (``equal``: 1 / min(markets,
  max_open_positions); ``weights``: as given; ``risk_parity``: inverse volatility of the
  market's close-to-close returns over ``risk_window`` bars, normalised over the markets);
- a market trades only on its own bars; on a timestamp it has no bar, its open positions are
  valued at its last close (mixed calendars: 24/5 FX with 24/7 crypto);
- ``rebalance`` ``daily``/``weekly``: on the first bar of each UTC day/ISO week, every open
  position of a market with a bar then is resized at its open in proportion to how its
  market's budget changed since it was sized (a reduction is a partial exit recorded as a trade
  with reason ``rebalance``; an increase is added at the fill, averaging the entry price, if
  free cash allows). Sizing in fixed units is never rebalanced.

Rules in docs/engine.md ("Portfolios"). Pure: no Django.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numba import njit

from . import kernel as K
from . import metrics as metric_fns
from .conditions import Operand
from .errors import InsufficientData, StrategyError
from .run import (
    BackgroundChecksum,
    BacktestResult,
    _check_data,
    _operand_values,
    data_checksum,
    hashed_bytes,
    market_inputs,
    market_signals,
    trade_frame,
)
from .simulate import Signals, SimulatedTrades, kernel_arrays
from .strategy import StrategySpec

ProgressFn = Callable[[str, int, int], None]
MAX_MARKETS = 50
ALLOCATIONS = ("equal", "weights", "risk_parity")
REBALANCES = ("none", "daily", "weekly")
# A literal, not len(K.EXIT_REASONS): Numba freezes a global into the compiled (and cached) loop,
# and its cache only knows this file's changes, so a reason added in kernel.py must not move it.
R_REBALANCE = 99
DEFAULT_RISK_WINDOW = 20
# skip counters: why an ordered entry was not taken
SKIP_RULES, SKIP_CAPITAL, SKIP_MAX_OPEN = range(3)


@dataclass(frozen=True)
class PortfolioRules:
    """How the markets share one account. ``weights``: market → fraction (allocation
    ``weights``), summing to 1. ``max_open_positions`` None: no cap beyond the markets';
    ``max_per_market`` None: the sizing's pyramiding. ``rank_by``: a module output read on the
    signal bar, higher first."""

    allocation: str = "equal"
    weights: Mapping[str, float] | None = None
    max_open_positions: int | None = None
    max_per_market: int | None = None
    rank_by: Operand | None = None
    rebalance: str = "none"
    risk_window: int = DEFAULT_RISK_WINDOW

    def describe(self, markets: int) -> str:
        parts = [f"{markets} markets", f"allocation {self.allocation}"]
        if self.max_open_positions:
            parts.append(f"max {self.max_open_positions} open")
        if self.max_per_market and self.max_per_market > 1:
            parts.append(f"max {self.max_per_market} per market")
        if self.rank_by is not None:
            parts.append(f"ranked by {self.rank_by.label()}")
        if self.rebalance != "none":
            parts.append(f"rebalanced {self.rebalance}")
        return "portfolio: " + ", ".join(parts)


@dataclass
class PortfolioArrays:
    """The compiled loop's inputs: every market's per-bar arrays concatenated (market m's bars
    are ``offsets[m]:offsets[m + 1]``), on the markets' own clocks."""

    bars: tuple[np.ndarray, ...]
    events: tuple[np.ndarray, ...]
    p: np.ndarray
    times: np.ndarray  # int64 ns, per market bar
    offsets: np.ndarray
    union: np.ndarray  # int64 ns, the union of the markets' timestamps
    union_of: np.ndarray  # per market bar: its position on the union clock
    rank: np.ndarray  # per market bar: the rank value on that (signal) bar
    weights: np.ndarray  # (union bars, markets): each market's budget as a fraction of equity
    rebalance_at: np.ndarray  # per union bar: resize open positions at this open
    limits: np.ndarray  # [max open positions, max per market]


# ---- the compiled loop ------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _unrealised(slots: np.ndarray, count: int, price: float) -> float:
    """The open slots' P&L (money) marked at ``price``."""
    total = 0.0
    for k in range(count):
        total += slots[k, K.S_DIR] * slots[k, K.S_SIZE] * (price - slots[k, K.S_FILL])
    return total


@njit(cache=True, nogil=True)
def _notional(slots: np.ndarray, count: int) -> float:
    """The open slots' notional at their entry fills (money): the cash they hold."""
    total = 0.0
    for k in range(count):
        total += slots[k, K.S_SIZE] * slots[k, K.S_FILL]
    return total


@njit(cache=True, nogil=True)
def _equity_now(slots: np.ndarray, count: np.ndarray, price: np.ndarray, balance: float) -> float:
    """The portfolio's equity: ``balance`` plus every market's open slots marked at ``price[m]``."""
    equity = balance
    for m in range(count.shape[0]):
        if count[m] > 0:
            equity += _unrealised(slots[m], count[m], price[m])
    return equity


@njit(cache=True, nogil=True)
def _free_cash(slots: np.ndarray, count: np.ndarray, balance: float) -> float:
    held = 0.0
    for m in range(count.shape[0]):
        if count[m] > 0:
            held += _notional(slots[m], count[m])
    return balance - held


@njit(cache=True, nogil=True)
def _resize(
    slots: np.ndarray,
    k: int,
    budget: float,
    bar: int,
    o: float,
    balance: float,
    free: float,
    p: np.ndarray,
    scratch: np.ndarray,
    ti: np.ndarray,
    tf: np.ndarray,
    n_trades: int,
) -> tuple[float, int]:
    """Rebalance slot k to ``budget`` (money) at open ``o``: its size scales with budget / the
    budget it was sized with (S_EQUITY). A reduction exits that part (trade row ``n_trades``,
    reason rebalance); an increase is bought at the fill if ``free`` cash covers it. Returns
    (balance, n_trades) after it."""
    size = slots[k, K.S_SIZE]
    sized_with = slots[k, K.S_EQUITY]
    if not (sized_with > 0 and budget > 0):
        return balance, n_trades
    target = size * budget / sized_with
    delta = target - size
    if abs(delta) <= 1e-12 * size:
        return balance, n_trades
    d = slots[k, K.S_DIR]
    if delta < 0:
        part = -delta
        scratch[0, :] = slots[k, :]
        scratch[0, K.S_SIZE] = part
        scratch[0, K.S_COMM] = slots[k, K.S_COMM] * part / size
        slots[k, K.S_COMM] -= scratch[0, K.S_COMM]
        slots[k, K.S_SIZE] = target
        slots[k, K.S_EQUITY] = budget
        balance, _, n_trades = K._close_slot(scratch, 0, 1, bar, o, R_REBALANCE, balance, p, ti, tf, n_trades)
        return balance, n_trades
    hs = K._half_spread(o, p)
    sl = K._slippage(o, p)
    fill = o + d * (hs + sl)
    comm = p[K.P_COMM_PCT] / 100.0 * delta * fill + p[K.P_COMM_FIXED]
    if delta * fill + comm > free:
        return balance, n_trades
    total = size + delta
    for col, value in ((K.S_FILL, fill), (K.S_RAW, o), (K.S_HALF_SPREAD, hs), (K.S_SLIP, sl)):
        slots[k, col] = (size * slots[k, col] + delta * value) / total
    slots[k, K.S_SIZE] = total
    slots[k, K.S_COMM] += comm
    slots[k, K.S_EQUITY] = budget
    return balance - comm, n_trades


@njit(cache=True, nogil=True)
def run_portfolio_kernel(
    bars: tuple[np.ndarray, ...],
    events: tuple[np.ndarray, ...],
    p: np.ndarray,
    times: np.ndarray,
    offsets: np.ndarray,
    union: np.ndarray,
    rank: np.ndarray,
    weights: np.ndarray,
    rebalance_at: np.ndarray,
    limits: np.ndarray,
    ti: np.ndarray,
    tf: np.ndarray,
    tm: np.ndarray,
    equity: np.ndarray,
    open_positions: np.ndarray,
    exposure: np.ndarray,
    market_open_bars: np.ndarray,
    skipped: np.ndarray,
) -> int:
    """Simulate the portfolio on the union clock. Per market the steps of ``kernel.run_kernel``
    on its own bars (bar numbers in trades are the market's own); across markets: exits of a bar
    first, then rebalancing, then entries in rank order under the shared cash and the limits.
    Fills ``ti``/``tf``/``tm`` (trade rows and their market), per union bar ``equity`` (money,
    at the close), ``open_positions``, ``exposure`` (gross notional at the last closes, money),
    ``market_open_bars`` (union bars with a position, per market) and ``skipped`` (SKIP_*).
    Returns the number of trades."""
    open_, high, low, close = bars[K.B_OPEN], bars[K.B_HIGH], bars[K.B_LOW], bars[K.B_CLOSE]
    atr, size_value = bars[K.B_ATR], bars[K.B_SIZE]
    stop_level, target_level = bars[K.B_STOP_LEVEL], bars[K.B_TARGET_LEVEL]
    long_entry, short_entry = events[K.E_LONG_ENTRY], events[K.E_SHORT_ENTRY]
    long_exit, short_exit = events[K.E_LONG_EXIT], events[K.E_SHORT_EXIT]
    session_end = events[K.E_SESSION_END]
    n_markets = offsets.shape[0] - 1
    max_open = limits[0]
    per_market = limits[1]
    slots = np.zeros((n_markets, per_market, K.N_SLOT))
    scratch = np.zeros((1, K.N_SLOT))
    count = np.zeros(n_markets, dtype=np.int64)
    pos = np.zeros(n_markets, dtype=np.int64)
    has = np.zeros(n_markets, dtype=np.bool_)
    price = np.full(n_markets, np.nan)  # open on the market's bar, else its last close
    last_close = np.full(n_markets, np.nan)
    exit_all = np.zeros(n_markets, dtype=np.bool_)
    entry = np.zeros(n_markets, dtype=np.int64)
    session_entries = np.zeros(n_markets, dtype=np.int64)
    signal_rank = np.zeros(n_markets)
    order = np.empty(n_markets, dtype=np.int64)
    trail_unit = int(p[K.P_TRAIL_UNIT])
    trail_val = p[K.P_TRAIL_VAL]
    target_first = p[K.P_TARGET_FIRST] > 0
    be_r = p[K.P_BE_R]
    max_bars = int(p[K.P_MAX_BARS])
    opposite = p[K.P_OPPOSITE] > 0
    close_session = p[K.P_CLOSE_SESSION] > 0
    max_per_session = int(p[K.P_MAX_PER_SESSION])
    fixed_units = int(p[K.P_SIZE_BASIS]) == K.BASIS_UNITS
    balance = p[K.P_CAPITAL]
    n_trades = 0
    for u in range(union.shape[0]):
        now = union[u]
        # ---- which markets have this bar; the open: exits ordered on their last close --------
        n_entries = 0
        for m in range(n_markets):
            g = offsets[m] + pos[m]
            has[m] = g < offsets[m + 1] and times[g] == now
            price[m] = last_close[m]
            if not has[m]:
                continue
            t = pos[m]
            o = open_[g]
            price[m] = o
            if count[m] > 0 and (exit_all[m] or max_bars > 0):
                k = 0
                while k < count[m]:
                    if exit_all[m] or slots[m, k, K.S_TIME_EXIT] > 0:
                        reason = K.R_SIGNAL if exit_all[m] else K.R_TIME
                        tm[n_trades] = m
                        balance, count[m], n_trades = K._close_slot(
                            slots[m], k, count[m], t, o, reason, balance, p, ti, tf, n_trades
                        )
                    else:
                        k += 1
            if t > 0 and session_end[g - 1]:
                session_entries[m] = 0
            if entry[m] != 0:
                # insertion by rank, highest first; ties keep the markets' order
                j = n_entries
                while j > 0 and signal_rank[order[j - 1]] < signal_rank[m]:
                    order[j] = order[j - 1]
                    j -= 1
                order[j] = m
                n_entries += 1
        # ---- rebalancing: open positions resized to their market's budget -------------------
        if rebalance_at[u] and u > 0 and not fixed_units:
            for m in range(n_markets):
                if not has[m] or count[m] == 0:
                    continue
                for k in range(count[m]):
                    budget = _equity_now(slots, count, price, balance) * weights[u - 1, m]
                    free = _free_cash(slots, count, balance)
                    tm[n_trades] = m
                    balance, n_trades = _resize(
                        slots[m], k, budget, pos[m], price[m], balance, free, p, scratch, ti, tf, n_trades
                    )
        # ---- entries, in rank order, under the limits and the shared cash --------------------
        open_total = 0
        for m in range(n_markets):
            open_total += count[m]
        for i in range(n_entries):
            m = order[i]
            g = offsets[m] + pos[m]
            t = pos[m]
            o = open_[g]
            d = entry[m]
            entry[m] = 0
            if max_per_session > 0 and session_entries[m] >= max_per_session:
                skipped[SKIP_RULES] += 1
                continue
            if max_open > 0 and open_total >= max_open:
                skipped[SKIP_MAX_OPEN] += 1
                continue
            budget = _equity_now(slots, count, price, balance) * weights[u - 1, m]
            # _enter sizes on its slots marked at the open plus ``cash``: hand it the budget so
            cash_arg = budget - _unrealised(slots[m], count[m], o)
            after, taken = K._enter(
                slots[m],
                count[m],
                t,
                float(d),
                cash_arg,
                o,
                atr[g - 1],
                size_value[g - 1],
                stop_level[g - 1],
                target_level[g - 1],
                p,
            )
            if not taken:
                skipped[SKIP_RULES] += 1
                continue
            comm = cash_arg - after
            need = slots[m, count[m], K.S_SIZE] * slots[m, count[m], K.S_FILL] + comm
            if need > _free_cash(slots, count, balance):
                skipped[SKIP_CAPITAL] += 1
                continue
            balance -= comm
            count[m] += 1
            open_total += 1
            session_entries[m] += 1
        # ---- inside the bar, the close, the signals: per market on its own bar ----------------
        gross = 0.0
        held = 0
        for m in range(n_markets):
            if has[m]:
                g = offsets[m] + pos[m]
                t = pos[m]
                o, h, lo, c = open_[g], high[g], low[g], close[g]
                k = 0
                while k < count[m]:
                    raw, reason = K._exit_price(slots[m], k, o, h, lo, trail_unit, trail_val, target_first)
                    if reason >= 0:
                        tm[n_trades] = m
                        balance, count[m], n_trades = K._close_slot(
                            slots[m], k, count[m], t, raw, reason, balance, p, ti, tf, n_trades
                        )
                    else:
                        K._track_extremes(slots[m], k, h, lo)
                        K._break_even(slots[m], k, be_r)
                        k += 1
                last = g == offsets[m + 1] - 1
                if count[m] > 0 and (last or (close_session and session_end[g])):
                    reason = K.R_END_OF_DATA if last else K.R_SESSION_END
                    while count[m] > 0:
                        tm[n_trades] = m
                        balance, count[m], n_trades = K._close_slot(
                            slots[m], 0, count[m], t, c, reason, balance, p, ti, tf, n_trades
                        )
                last_close[m] = c
                pos[m] += 1
                if not last:
                    go_long = long_entry[g]
                    go_short = short_entry[g]
                    if go_long and go_short:
                        go_long = False
                        go_short = False
                    position = slots[m, 0, K.S_DIR] if count[m] > 0 else 0.0
                    exit_all[m] = count[m] > 0 and K._exit_signal(
                        position, long_exit[g], short_exit[g], go_long, go_short, opposite
                    )
                    remaining = count[m]
                    if exit_all[m]:
                        remaining = 0
                    elif count[m] > 0 and max_bars > 0:
                        remaining -= K._mark_time_exits(slots[m], count[m], t, max_bars)
                    entry[m] = K._entry_order(go_long, go_short, position, remaining, per_market)
                    signal_rank[m] = rank[g] if not np.isnan(rank[g]) else -np.inf
            if count[m] > 0:
                held += count[m]
                market_open_bars[m] += 1
                for k in range(count[m]):
                    gross += slots[m, k, K.S_SIZE] * last_close[m]
        equity[u] = _equity_now(slots, count, last_close, balance)
        open_positions[u] = held
        exposure[u] = gross
    return n_trades


# ---- preparing and measuring ----------------------------------------------------------------


@dataclass
class MarketSeries:
    """What the portfolio keeps of one market after its signals are computed."""

    symbol: str
    index: pd.DatetimeIndex
    close: np.ndarray
    trade_from_bar: int = 0


def _check(datas: Mapping[str, pd.DataFrame], rules: PortfolioRules) -> list[str]:
    symbols = list(datas)
    if not symbols:
        raise StrategyError("a portfolio needs at least one market", code="INVALID_REQUEST")
    if len(symbols) > MAX_MARKETS:
        raise StrategyError(f"a portfolio takes at most {MAX_MARKETS} markets", code="INVALID_REQUEST")
    if rules.allocation not in ALLOCATIONS:
        raise StrategyError(f"allocation must be one of {list(ALLOCATIONS)}", code="INVALID_REQUEST")
    if rules.rebalance not in REBALANCES:
        raise StrategyError(f"rebalance must be one of {list(REBALANCES)}", code="INVALID_REQUEST")
    if rules.allocation == "weights":
        weights = rules.weights or {}
        if set(weights) != set(symbols) or abs(sum(weights.values()) - 1.0) > 1e-9:
            raise StrategyError("weights must name every market and sum to 1", code="INVALID_REQUEST")
    for data in datas.values():
        _check_data(data)
    return symbols


def allocation_weights(
    volatility: np.ndarray | None, rules: PortfolioRules, symbols: list[str], bars: int
) -> np.ndarray:
    """(union bars, markets): each market's budget as a fraction of the equity, known at each
    union bar's close. ``volatility`` (union bars, markets): each market's rolling standard
    deviation of close-to-close returns at its last close, for ``risk_parity`` (inverse
    volatility, normalised over the markets that have one; none yet: no budget)."""
    n = len(symbols)
    if rules.allocation == "weights":
        row = np.array([float((rules.weights or {})[s]) for s in symbols])
        return np.tile(row, (bars, 1))
    if rules.allocation == "equal" or volatility is None:
        slots = min(n, rules.max_open_positions) if rules.max_open_positions else n
        return np.full((bars, n), 1.0 / slots)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = 1.0 / volatility
    inverse[~np.isfinite(inverse)] = 0.0
    totals = inverse.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(totals > 0, inverse / totals, 0.0)


def on_union(columns: list[np.ndarray], union_of: np.ndarray, offsets: np.ndarray, bars: int) -> np.ndarray:
    """(union bars, markets): each market's per-bar values placed on the union clock and carried
    forward (the last known value); NaN before the market's first bar."""
    out = np.full((bars, len(columns)), np.nan)
    for m, values in enumerate(columns):
        out[union_of[offsets[m] : offsets[m + 1]], m] = values
    known = np.where(np.isnan(out), 0, np.arange(bars)[:, None])
    np.maximum.accumulate(known, axis=0, out=known)
    return out[known, np.arange(len(columns))]


def rebalance_bars(union: pd.DatetimeIndex, rebalance: str) -> np.ndarray:
    """True on the first union bar of each UTC day (``daily``) or ISO week (``weekly``)."""
    out = np.zeros(len(union), dtype=np.bool_)
    if rebalance == "none" or len(union) < 2:
        return out
    ns = union.as_unit("ns").asi8
    day = ns // (86_400 * 10**9)
    period = day if rebalance == "daily" else (day + 3) // 7  # 1970-01-01 was a Thursday
    out[1:] = period[1:] != period[:-1]
    return out


def run_portfolio(
    datas: Mapping[str, pd.DataFrame],
    spec: StrategySpec,
    rules: PortfolioRules,
    on_progress: ProgressFn | None = None,
    *,
    trade_from: pd.Timestamp | None = None,
    annualisation: metric_fns.Annualisation | None = None,
    signals: Mapping[str, Signals] | None = None,
) -> BacktestResult:
    """Backtest ``spec`` on every market of ``datas`` (symbol → OHLCV frame, in the order that
    breaks ranking ties) with one account. ``on_progress(stage, done, total)``: stage
    ``computing_modules:<SYMBOL>`` for each market, before it and after each of its modules
    (it may raise to cancel), then
    ``simulating`` and ``analysing``. ``trade_from``: bars before it only warm up.

    The result's trades carry ``market``; ``extra["portfolio"]`` holds the per-market
    contribution, the correlation of the markets' returns, and exposure and open positions over
    time (see :func:`portfolio_report`). ``signals`` (symbol → entry/exit signals) replaces the
    spec's blocks, for tests and research."""
    symbols = _check(datas, rules)
    progress = on_progress or (lambda stage, done, total: None)
    basket = dict(datas)
    checksum = BackgroundChecksum(
        lambda: _basket_checksum(basket), nbytes=sum(hashed_bytes(data) for data in basket.values())
    )
    checksum.start()  # hashlib releases the GIL: large data is hashed while the modules compute
    try:
        return _run(datas, spec, rules, progress, symbols, trade_from, annualisation, signals, checksum)
    finally:
        checksum.join()  # no thread outlives a failed or cancelled run


def _run(datas, spec, rules, progress, symbols, trade_from, annualisation, signals, checksum) -> BacktestResult:
    series: list[MarketSeries] = []
    prepared = []
    total = len(symbols)
    for i, symbol in enumerate(symbols):
        data = datas[symbol]
        progress(f"computing_modules:{symbol}", i, total)
        given = signals[symbol] if signals is not None else None
        # reported after each module too: a cancel is noticed within one module, not one market
        on_module = _module_progress(progress, symbol, i, total)
        market = given if given is not None else market_signals(data, spec, trade_from=trade_from, on_module=on_module)
        prices, inputs = market_inputs(data, spec)
        bars, events, p = kernel_arrays(spec, market, *prices, **inputs)
        rank = _operand_values(data, rules.rank_by) if rules.rank_by is not None else None
        prepared.append((bars, events, p, rank, _placeholders(inputs)))
        index = pd.DatetimeIndex(data.index)
        series.append(MarketSeries(symbol, index, prices[3]))
    progress("computing_modules", total, total)
    arrays = _arrays(series, prepared, spec, rules)
    result = _simulate_portfolio(arrays, series, spec, rules, progress, trade_from, annualisation)
    result.data_checksum = checksum.result()
    return result


def _placeholders(inputs: Mapping[str, Any]) -> frozenset[int]:
    """The per-bar arrays (``K.B_*``) that ``kernel_arrays`` fills with a placeholder (NaN, or 0
    for financing) because ``market_inputs`` has no such input for the market."""
    absent = {
        index
        for index, name in ((K.B_ATR, "atr"), (K.B_SIZE, "size_value"), (K.B_STOP_LEVEL, "stop_level"))
        if inputs.get(name) is None
    }
    if inputs.get("target_level") is None:
        absent.add(K.B_TARGET_LEVEL)
    if inputs.get("financing") is None:
        absent |= {K.B_FIN_LONG, K.B_FIN_SHORT}
    return frozenset(absent)


def _module_progress(progress: ProgressFn, symbol: str, i: int, total: int) -> Callable[[int, int], None]:
    """Market ``i`` of ``total``'s ``on_module(done, modules)`` as its ``computing_modules:<SYMBOL>``."""

    def on_module(done: int, modules: int) -> None:
        progress(f"computing_modules:{symbol}", i * modules + done, total * modules)

    return on_module


def _arrays(series: list[MarketSeries], prepared: list, spec: StrategySpec, rules: PortfolioRules) -> PortfolioArrays:
    symbols = [s.symbol for s in series]
    offsets = np.zeros(len(series) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s.index) for s in series])
    times = np.concatenate([s.index.as_unit("ns").asi8 for s in series])
    ordered = np.sort(times, kind="mergesort")  # each market's times are sorted already
    fresh = np.ones(len(ordered), dtype=np.bool_)
    fresh[1:] = ordered[1:] != ordered[:-1]
    union_ns = ordered[fresh]
    union_of = np.searchsorted(union_ns, times)
    total = int(offsets[-1])
    bars = tuple(
        # an input no market has (no ATR exit, no financing, ...) is one placeholder, not N copied
        np.full(total, 0.0 if i in (K.B_FIN_LONG, K.B_FIN_SHORT) else np.nan)
        if all(i in item[4] for item in prepared)
        else np.ascontiguousarray(np.concatenate([item[0][i] for item in prepared]))
        for i in range(K.N_BARS_ARRAYS)
    )
    events = tuple(
        np.ascontiguousarray(np.concatenate([item[1][i] for item in prepared])) for i in range(K.N_EVENTS_ARRAYS)
    )
    volatility = None
    if rules.allocation == "risk_parity":
        vols = [
            pd.Series(s.close).pct_change().rolling(rules.risk_window).std().to_numpy(dtype=np.float64) for s in series
        ]
        volatility = on_union(vols, union_of, offsets, len(union_ns))
    per_market = rules.max_per_market or spec.sizing.pyramiding
    return PortfolioArrays(
        bars=bars,
        events=events,
        p=prepared[0][2],
        times=times,
        offsets=offsets,
        union=union_ns,
        union_of=union_of,
        rank=np.zeros(total)
        if rules.rank_by is None
        else np.ascontiguousarray(np.concatenate([item[3] for item in prepared]), dtype=np.float64),
        weights=np.ascontiguousarray(allocation_weights(volatility, rules, symbols, len(union_ns))),
        rebalance_at=rebalance_bars(_utc_index(union_ns), rules.rebalance),
        limits=np.array([rules.max_open_positions or 0, per_market], dtype=np.int64),
    )


def _utc_index(
    ns: np.ndarray, name: str | None = None, unit: Literal["s", "ms", "us", "ns"] = "ns"
) -> pd.DatetimeIndex:
    """UTC times from int64 nanoseconds, in ``unit`` (the data's: pandas keeps one per index)."""
    return pd.DatetimeIndex(ns.view("datetime64[ns]"), name=name).tz_localize("UTC").as_unit(unit)


def _simulate_portfolio(
    arrays: PortfolioArrays,
    series: list[MarketSeries],
    spec: StrategySpec,
    rules: PortfolioRules,
    progress: ProgressFn,
    trade_from: pd.Timestamp | None,
    annualisation: metric_fns.Annualisation | None,
) -> BacktestResult:
    n_union = len(arrays.union)
    progress("simulating", 0, n_union)
    entries = arrays.events[K.E_LONG_ENTRY] | arrays.events[K.E_SHORT_ENTRY]
    capacity = int(np.count_nonzero(entries)) + int(np.count_nonzero(arrays.rebalance_at)) * int(
        min(arrays.limits[0] or len(series) * arrays.limits[1], len(series) * arrays.limits[1])
    )
    ti = np.zeros((capacity, K.N_INT), dtype=np.int64)
    tf = np.zeros((capacity, K.N_FLOAT), dtype=np.float64)
    tm = np.zeros(capacity, dtype=np.int64)
    equity = np.empty(n_union, dtype=np.float64)
    open_positions = np.zeros(n_union, dtype=np.int64)
    exposure = np.zeros(n_union, dtype=np.float64)
    market_open_bars = np.zeros(len(series), dtype=np.int64)
    skipped = np.zeros(3, dtype=np.int64)
    n_trades = run_portfolio_kernel(
        arrays.bars,
        arrays.events,
        arrays.p,
        arrays.times,
        arrays.offsets,
        arrays.union,
        arrays.rank,
        arrays.weights,
        arrays.rebalance_at,
        arrays.limits,
        ti,
        tf,
        tm,
        equity,
        open_positions,
        exposure,
        market_open_bars,
        skipped,
    )
    progress("simulating", n_union, n_union)
    progress("analysing", 0, 1)
    union = _utc_index(arrays.union, name="timestamp", unit=series[0].index.unit)
    trades = _trades(ti[:n_trades], tf[:n_trades], tm[:n_trades], series, arrays)
    equity_series = pd.Series(equity, index=union, name="equity")
    in_window = np.ones(n_union, dtype=np.bool_) if trade_from is None else np.asarray(union >= trade_from)
    if not in_window.any():
        raise InsufficientData(f"no bars at or after {trade_from} to trade on")
    offset = int(np.argmax(in_window))
    measured_equity = equity_series[in_window]
    measured = trades.assign(entry_bar=trades.entry_bar - offset, exit_bar=trades.exit_bar - offset)
    closes = on_union([s.close for s in series], arrays.union_of, arrays.offsets, n_union)
    basket = series[0].close if len(series) == 1 else _basket(closes)
    metrics = metric_fns.compute_all(
        measured, measured_equity, spec.initial_capital, close=basket[in_window], annualisation=annualisation
    )
    metrics["skipped_entries"] = int(skipped.sum())
    metrics["skipped_for_capital"] = int(skipped[SKIP_CAPITAL])
    metrics["skipped_for_max_open"] = int(skipped[SKIP_MAX_OPEN])
    report = portfolio_report(
        trades,
        [s.symbol for s in series],
        closes[in_window],
        union[in_window],
        open_positions[in_window],
        exposure[in_window],
        equity[in_window],
        market_open_bars / n_union * 100.0,
        spec.initial_capital,
    )
    progress("analysing", 1, 1)
    return BacktestResult(
        trades=trades,
        equity=measured_equity,
        metrics=metrics,
        bars=len(measured_equity),
        strategy_text=spec.describe() + " · " + rules.describe(len(series)),
        extra={"portfolio": report, "markets": [s.symbol for s in series]},
    )


def _basket_checksum(datas: Mapping[str, pd.DataFrame]) -> str:
    """sha256 over each market's symbol and data checksum (``run.data_checksum``)."""
    digest = hashlib.sha256()
    for symbol, data in datas.items():
        digest.update(symbol.encode())
        digest.update(data_checksum(data).encode())
    return digest.hexdigest()


def _basket(closes: np.ndarray) -> np.ndarray:
    """An equal-weight buy-and-hold basket on the union clock: each market's close over its
    first, carried forward (1 before its first bar), averaged; for the buy-and-hold figure."""
    first = closes[np.argmax(~np.isnan(closes), axis=0), np.arange(closes.shape[1])]
    growth = closes / first
    growth[np.isnan(growth)] = 1.0
    return growth.mean(axis=1)


def _trades(
    ti: np.ndarray, tf: np.ndarray, tm: np.ndarray, series: list[MarketSeries], arrays: PortfolioArrays
) -> pd.DataFrame:
    """The trade list in entry order (ties: the markets' order), with ``market``; ``entry_bar``
    and ``exit_bar`` on the union clock, ``bars_held`` in the market's own bars."""
    start = arrays.offsets[tm]  # each trade's market's first bar in the concatenated arrays
    entry = ti[:, K.I_ENTRY_BAR] + start
    exit_ = ti[:, K.I_EXIT_BAR] + start
    order = np.lexsort((exit_, tm, arrays.union_of[entry]))
    reason = ti[order, K.I_REASON]
    rebalanced = reason == R_REBALANCE
    sim = SimulatedTrades(
        entry_bar=entry[order],
        exit_bar=exit_[order],
        direction=ti[order, K.I_DIRECTION],
        reason=np.where(rebalanced, 0, reason),
        values=tf[order],
        equity=np.zeros(0),
    )
    frame = trade_frame(sim, _utc_index(arrays.times, unit=series[0].index.unit))  # the concatenated bars' times
    if rebalanced.any():
        frame.loc[rebalanced, "exit_reason"] = "rebalance"
    frame["entry_bar"] = arrays.union_of[sim.entry_bar]
    frame["exit_bar"] = arrays.union_of[sim.exit_bar]
    symbols = np.array([s.symbol for s in series], dtype=object)
    frame.insert(0, "market", symbols[tm[order]])
    return frame


def _correlation(returns: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns (NaN for a column without variance). By einsum, not
    BLAS: on a busy machine a threaded matrix product waits for cores it does not get."""
    centred = returns - returns.mean(axis=0)
    scale = np.sqrt(np.einsum("ti,ti->i", centred, centred))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = centred / scale
    return np.clip(np.einsum("ti,tj->ij", z, z), -1.0, 1.0)


def portfolio_report(
    trades: pd.DataFrame,
    symbols: list[str],
    closes: np.ndarray,
    times: pd.DatetimeIndex,
    open_positions: np.ndarray,
    exposure: np.ndarray,
    equity: np.ndarray,
    exposure_pct: np.ndarray,
    initial_capital: float,
    points: int = 600,
) -> dict[str, Any]:
    """What the report shows of a portfolio over the measured bars, JSON-ready:
    ``contribution`` per market (net P&L in money and as % of the initial capital, trades, win
    rate %, exposure: % of the union bars with a position), ``correlation`` of the markets'
    close-to-close returns (on the union clock, last known price, over the bars where every
    market has one), and ``exposure`` over time (time, gross exposure % of equity, open
    positions), thinned to about ``points`` rows keeping each bucket's largest values."""
    code = pd.Categorical(trades["market"], categories=symbols).codes
    pnl = trades["pnl"].to_numpy(dtype=np.float64)
    n = len(symbols)
    money = np.bincount(code, weights=pnl, minlength=n)
    count = np.bincount(code, minlength=n)
    wins = np.bincount(code, weights=(pnl > 0).astype(np.float64), minlength=n)
    contribution = [
        {
            "market": symbol,
            "pnl": float(money[m]),
            "pnl_pct": float(money[m] / initial_capital * 100.0),
            "trades": int(count[m]),
            "win_rate_pct": float(wins[m] / count[m] * 100.0) if count[m] else None,
            "exposure_pct": float(exposure_pct[m]),
        }
        for m, symbol in enumerate(symbols)
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = closes[1:] / closes[:-1] - 1.0
        complete = returns[np.isfinite(returns).all(axis=1)]
        corr = _correlation(complete) if len(complete) >= 3 and n > 1 else np.ones((n, n))
    matrix = [[None if not np.isfinite(v) else round(float(v), 4) for v in row] for row in corr]
    with np.errstate(divide="ignore", invalid="ignore"):
        gross_pct = np.where(equity > 0, exposure / equity * 100.0, 0.0)
    bars = len(times)
    step = max(1, int(np.ceil(bars / points)))
    starts = np.arange(0, bars, step)
    most_exposed = np.maximum.reduceat(gross_pct, starts) if bars else np.zeros(0)
    most_held = np.maximum.reduceat(open_positions, starts) if bars else np.zeros(0, dtype=np.int64)
    stamps = times[starts].strftime("%Y-%m-%dT%H:%M:%S+00:00")
    rows = [[t, round(float(e), 4), int(h)] for t, e, h in zip(stamps, most_exposed, most_held, strict=True)]
    return {
        "markets": list(symbols),
        "contribution": contribution,
        "correlation": {"markets": list(symbols), "matrix": matrix},
        "exposure": rows,
        "max_open_positions": int(open_positions.max()) if bars else 0,
        "average_exposure_pct": float(gross_pct.mean()) if bars else 0.0,
    }


__all__ = [
    "ALLOCATIONS",
    "on_union",
    "MAX_MARKETS",
    "REBALANCES",
    "PortfolioRules",
    "allocation_weights",
    "rebalance_bars",
    "run_portfolio",
]
