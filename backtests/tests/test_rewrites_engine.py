"""The engine's rewrites of this round (issue 19) against the code they replaced, kept here
verbatim: the new code must give the old one's results bit for bit (NaN positions included) on
every kind of input, the edge cases too. Pure: no Django."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from backtests.engine import kernel as K
from backtests.engine import metrics as M
from backtests.engine.intrabar import FinerBars
from backtests.engine.simulate import (
    COUNTER_NAMES,
    ProgressFn,
    Signals,
    SimulatedTrades,
    _kernel_input,
    kernel_arrays,
    simulate,
)
from backtests.engine.strategy import StrategySpec
from backtests.strategies.parse import build_strategy

DAY_NS = M.DAY_NS


# ---- metrics._curve_walk before it kept the bar before's value and time (and before error_model="numpy")


@njit(nogil=True)
def curve_walk_before(
    eq: np.ndarray, times: np.ndarray, below_sq: np.ndarray, returns: np.ndarray, last: np.ndarray
) -> tuple[bool, int, float, int, float, float, int, int, float, float]:
    """One walk over ``eq`` (money per bar) at ``times`` (int64 ns). Writes ``below_sq`` (n values:
    the squared percent below the running peak, ``ulcer_index``'s terms), ``returns`` (n - 1 simple
    returns) and ``last`` (each UTC day's last bar; at least as long as the days spanned). Returns
    (whether every value is finite and positive, the times increase and the days fit ``last`` --
    if not, the rest is meaningless --, the longest drawdown in bars and in days as
    ``drawdown_durations``, the number of days, the largest fall below the peak in money, the
    largest in fractions of the peak and its first bar (the trough), the first bar at or above the
    trough's peak after it (-1: never), the least and the largest return)."""
    n = eq.shape[0]
    peak = eq[0]
    last_peak = 0
    dd_bars = 0
    dd_days = 0.0
    real = False
    days = 0
    max_money = 0.0
    max_fall = -1.0
    trough = 0
    recovered = -1
    low = np.inf
    high = -np.inf
    midnight = (times[0] // DAY_NS + 1) * DAY_NS  # one division a day, not one a bar
    for i in range(n):
        e = eq[i]
        if not (e > 0.0 and e < np.inf):
            return False, 0, 0.0, 0, 0.0, 0.0, 0, -1, 0.0, 0.0
        if e >= peak:  # at a peak: the drawdown since the last one ends here
            if recovered < 0 and i > trough:
                recovered = i  # the trough's peak, unchanged since, is reached again
            bars = i - last_peak
            if bars > 1:
                span = (times[i] - times[last_peak]) / DAY_NS
                if not real or bars > dd_bars:
                    dd_bars = bars
                if not real or span > dd_days:
                    dd_days = span
                real = True
            last_peak = i
            peak = e
        money = peak - e
        if money > max_money:
            max_money = money
        fall = money / peak
        if fall > max_fall:  # strictly: the first bar of the largest fall, as np.argmax
            max_fall = fall
            trough = i
            recovered = -1
        below = fall * 100.0
        below_sq[i] = below * below
        if i > 0:
            if times[i] <= times[i - 1]:
                return False, 0, 0.0, 0, 0.0, 0.0, 0, -1, 0.0, 0.0
            if times[i] >= midnight:
                if days == last.shape[0]:
                    return False, 0, 0.0, 0, 0.0, 0.0, 0, -1, 0.0, 0.0
                last[days] = i - 1
                days += 1
                midnight = (times[i] // DAY_NS + 1) * DAY_NS
            r = e / eq[i - 1] - 1.0
            returns[i - 1] = r
            if r < low:
                low = r
            if r > high:
                high = r
    if days == last.shape[0]:
        return False, 0, 0.0, 0, 0.0, 0.0, 0, -1, 0.0, 0.0
    last[days] = n - 1
    days += 1
    if last_peak < n - 1:  # the open tail: a drawdown not recovered by the last bar
        bars = n - 1 - last_peak
        span = (times[n - 1] - times[last_peak]) / DAY_NS
        if not real or bars > dd_bars:
            dd_bars = bars
        if not real or span > dd_days:
            dd_days = span
    return True, dd_bars, dd_days, days, max_money, max_fall, trough, recovered, low, high


def _curve_case(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """An equity curve and its times (int64 ns): random walks of several volatilities and drifts,
    flat stretches, ties with the peak, whole-number values, gaps of minutes to days, and the
    cases the walk refuses (a value not positive, not finite, NaN; times equal or going back)."""
    rng = np.random.default_rng(seed)
    vol = (1e-4, 1e-2, 0.0, 3e-3)[seed % 4]
    drift = (0.0, 1e-3, -1e-3)[seed % 3]
    eq = 10_000.0 * np.cumprod(1.0 + rng.normal(drift, vol, n))
    if seed % 3 == 0:
        eq[rng.integers(0, n, n // 10)] = eq[0]
    if seed % 5 == 1:
        eq = np.round(eq, 0)
    if seed % 7 == 2:
        eq[(np.arange(n) // 97) % 2 == 0] = eq[0]  # flat while out of the market
    step = (60, 3_600, 3 * 86_400, 7)[seed % 4]
    times = np.cumsum(rng.integers(1, 3, n) * step).astype(np.int64) * 10**9 + 1_577_836_800 * 10**9
    kind = seed % 11
    if kind == 7:
        eq[n // 2] = -1.0
    elif kind == 8:
        eq[n - 1] = np.inf
    elif kind == 10:
        eq[n // 3] = np.nan
    elif kind == 9 and n > 3:
        times[n // 2] = times[n // 2 - 1]
    elif kind == 6 and n > 3:
        times[n // 2] = times[n // 2 - 1] - 5
    elif kind == 5:
        eq[0] = 0.0
    return eq, times


def _walk(walk, eq: np.ndarray, times: np.ndarray, days: int | None = None):
    n = len(eq)
    below_sq, returns = np.full(n, 7.0), np.full(n - 1, 7.0)
    if days is None:
        days = min(n, max(int(times[-1] // DAY_NS - times[0] // DAY_NS), 0) + 2)
    last = np.full(days, -5, dtype=np.int64)
    return walk(eq, times, below_sq, returns, last), below_sq, returns, last


@pytest.mark.parametrize("seed", range(44))
@pytest.mark.parametrize("n", [1, 2, 3, 7, 129, 1_025, 20_011])
def test_curve_walk_gives_the_previous_walks_results_exactly(seed, n):
    eq, times = _curve_case(seed, n)
    for days in (None, 1):  # 1: the days do not fit ``last`` (the walk then refuses the curve)
        new, new_below, new_returns, new_last = _walk(M._curve_walk, eq, times, days)
        old, old_below, old_returns, old_last = _walk(curve_walk_before, eq, times, days)
        assert new == old
        if old[0]:  # what the walk writes is only read when it accepts the curve
            assert np.array_equal(new_below, old_below)
            assert np.array_equal(new_returns, old_returns)
            assert np.array_equal(new_last[: old[3]], old_last[: old[3]])


def test_curve_walk_on_a_million_minutes_gives_the_previous_results_exactly():
    rng = np.random.default_rng(19)
    n = 1_000_000
    steps = rng.standard_normal(n) * 1e-4
    steps[(np.arange(n) // 97) % 2 == 0] = 0.0
    eq = 10_000.0 * np.exp(np.cumsum(steps))
    times = (np.arange(n, dtype=np.int64) + 26_297_280) * 60 * 10**9  # 2020-01-01 on, a bar a minute
    new, new_below, new_returns, new_last = _walk(M._curve_walk, eq, times)
    old, old_below, old_returns, old_last = _walk(curve_walk_before, eq, times)
    assert new == old and old[0]
    assert np.array_equal(new_below, old_below) and np.array_equal(new_returns, old_returns)
    assert np.array_equal(new_last[: old[3]], old_last[: old[3]])


# ---- compute_all's VaR, CVaR and tail ratio: metrics._tail_figures against the three functions it
# stands in for (value_at_risk, conditional_value_at_risk and tail_ratio, unchanged in metrics.py)


def _daily_returns_cases():
    rng = np.random.default_rng(5)
    yield np.zeros(0)
    yield np.array([0.01])
    yield np.array([0.01, -0.02])
    yield np.array([np.nan, 0.01])
    yield np.array([np.nan, 0.01, -0.03, np.inf, -np.inf])
    yield np.zeros(50)  # the 5 % quantile is 0: no tail ratio
    yield np.full(20, -0.01)
    yield np.full(20, 0.01)
    yield np.concatenate((np.zeros(90), np.full(10, 0.02)))
    for n in (2, 3, 19, 20, 21, 101, 694, 2_500):
        for scale in (1e-4, 1e-2):
            r = rng.standard_normal(n) * scale
            yield r
            r = r.copy()
            r[rng.random(n) < 0.1] = np.nan
            yield r
            yield np.round(r, 3)  # ties at the quantiles


def test_tail_figures_give_the_three_functions_numbers_exactly():
    for r in _daily_returns_cases():
        figures = M._tail_figures(r)
        expected = (M.value_at_risk(r), M.conditional_value_at_risk(r), M.tail_ratio(r))
        assert [None if v is None else float(v) for v in figures] == list(expected)
        assert [type(v) for v in figures] == [type(v) for v in expected]


# ---- simulate before it sized the trade arrays by the two entry counts (it ORed the masks first)


def simulate_before(
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
    entries = signals.long_entry[: max(n - 1, 0)] | signals.short_entry[: max(n - 1, 0)]
    capacity = int(np.count_nonzero(entries))
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


SIM_BLOCK = [{"subConfirmations": [{"moduleId": "rsi", "config": {"period": 14, "operator": "<", "value": 30}}]}]


@pytest.mark.parametrize("seed", range(12))
def test_simulate_gives_the_previous_simulates_trades_and_equity_exactly(seed):
    """Both sides' entries on the same bars (the bars the two counts count twice), on every bar,
    on none, and at random; long only, short only and both; with and without stops and targets."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([2, 3, 50, 2_000]))
    close = 100.0 * np.exp(np.cumsum(rng.standard_normal(n) * 0.01))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 0.005)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 0.005)
    direction = ("Long", "Short", "Both")[seed % 3]
    request = {
        "marketContext": {"direction": direction},
        "decisionBlocks": SIM_BLOCK,
        "sizing": {"moduleId": "fixed_units", "config": {"units": 1}},
    }
    if direction == "Both":
        request["shortDecisionBlocks"] = SIM_BLOCK
    if seed % 2:
        request["exit"] = {"stopLoss": 1, "takeProfit": 2}
    spec = build_strategy(request)
    kind = seed % 4
    if kind == 0:
        long_entry = rng.random(n) < 0.2
        short_entry = long_entry.copy()
    elif kind == 1:
        long_entry, short_entry = np.ones(n, dtype=bool), np.ones(n, dtype=bool)
    elif kind == 2:
        long_entry, short_entry = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    else:
        long_entry, short_entry = rng.random(n) < 0.1, rng.random(n) < 0.1
    if direction == "Long":
        short_entry = np.zeros(n, dtype=bool)
    elif direction == "Short":
        long_entry = np.zeros(n, dtype=bool)
    signals = Signals(long_entry, short_entry, rng.random(n) < 0.05, rng.random(n) < 0.05)
    size = np.ones(n)
    new = simulate(spec, signals, open_, high, low, close, size_basis=0, size_value=size)
    old = simulate_before(spec, signals, open_, high, low, close, size_basis=0, size_value=size)
    for name in ("entry_bar", "exit_bar", "direction", "reason", "values", "equity"):
        assert np.array_equal(getattr(new, name), getattr(old, name), equal_nan=name in ("values", "equity"))
    assert (new.skipped_entries, new.counters) == (old.skipped_entries, old.counters)
