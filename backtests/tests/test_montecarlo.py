"""Monte Carlo robustness (backtests/engine/montecarlo.py): seeded and reproducible, paths that
respect the account (never below −100 %), summaries that agree with the paths they summarise.
Pure: no Django. Its speed is bench/montecarlo.py's business."""

import json

import numpy as np
import pytest
from numba import njit

from backtests.engine import montecarlo as MC


def returns(n=200, seed=3):
    return np.random.default_rng(seed).normal(0.002, 0.012, n)


def test_trade_returns_are_on_the_equity_before_each_trade():
    pnl = np.array([100.0, -50.0, 25.0, -20_000.0, 10.0])
    q = MC.trade_returns_on_equity(pnl, 1_000.0)
    assert q[:3] == pytest.approx([0.1, -50 / 1_100, 25 / 1_050])
    assert q[3] == -1.0, "a loss beyond the account is floored at −100 %"
    assert q[4] == -1.0, "the account is gone: nothing left to trade"
    assert len(MC.trade_returns_on_equity(np.zeros(0), 1_000.0)) == 0


@pytest.mark.parametrize("method", MC.METHODS)
def test_the_same_seed_gives_the_same_paths_and_another_seed_others(method):
    settings = MC.MonteCarloSettings(paths=2_000, method=method, seed=7)
    first, again = MC.monte_carlo(returns(), settings), MC.monte_carlo(returns(), settings)
    assert json.dumps(first) == json.dumps(again)
    other = MC.monte_carlo(returns(), MC.MonteCarloSettings(paths=2_000, method=method, seed=8))
    assert other["max_drawdown_pct"] != first["max_drawdown_pct"]
    json.dumps(first, allow_nan=False)


def test_reshuffling_keeps_the_final_return_and_moves_the_drawdowns():
    r = returns()
    out = MC.monte_carlo(r, MC.MonteCarloSettings(paths=3_000, method="shuffle"))
    real = (np.prod(1 + r) - 1) * 100
    for q in ("p5", "p50", "p95"):
        assert out["final_return_pct"][q] == pytest.approx(real, rel=1e-9)
    assert out["actual"]["final_return_pct"] == pytest.approx(real, rel=1e-12)
    assert out["max_drawdown_pct"]["p5"] < out["max_drawdown_pct"]["p95"]
    assert out["fan"]["p5"][-1] == pytest.approx(out["fan"]["p95"][-1], rel=1e-6)


def test_a_shuffle_is_a_uniform_permutation():
    r = np.array([0.01, 0.02, 0.03])
    _, _, _, _, marks = MC._paths_kernel(r, 30_000, True, 5, np.arange(4), 0.5)
    first = np.round(marks[1] - 1, 9)
    shares = [float((first == v).mean()) for v in r]
    assert shares == pytest.approx([1 / 3] * 3, abs=0.015)
    assert np.allclose(marks[3], np.prod(1 + r)), "every path holds every trade once"


def test_a_bootstrap_draws_each_trade_equally_often():
    r = np.array([0.1, -0.1])
    out = MC.monte_carlo(r[np.arange(100) % 2], MC.MonteCarloSettings(paths=20_000))
    # wins ~ Binomial(100, 1/2): the median path has 50 of each
    assert out["final_return_pct"]["p50"] == pytest.approx((1.1**50 * 0.9**50 - 1) * 100, rel=1e-9)


def test_the_compiled_loop_agrees_with_its_paths():
    """Every per-path figure recomputed with numpy from the path's own equity after each trade."""
    r = returns(60)
    steps = np.arange(61)
    final, max_dd, longest, ruined, marks = MC._paths_kernel(r, 500, False, 11, steps, 0.97)
    for p in range(0, 500, 37):
        f, dd, run = MC._path_stats(marks[1:, p])
        assert (final[p], max_dd[p], longest[p]) == (pytest.approx(f), pytest.approx(dd), run)
        assert ruined[p] == bool(marks[:, p].min() <= 0.97)


def test_paths_never_go_below_minus_100_percent():
    r = np.array([0.5, -0.9, 0.4, -1.0, 0.3, -0.95, 0.2] * 10)
    for method in MC.METHODS:
        out = MC.monte_carlo(r, MC.MonteCarloSettings(paths=5_000, method=method, ruin_pct=100))
        assert out["final_return_pct"]["p5"] >= -100 and out["max_drawdown_pct"]["p95"] <= 100
        assert min(out["fan"]["p5"]) >= -100
        assert out["ruin_probability_pct"] > 0, "wiped out (equity 0) on some paths"
        assert out["actual"]["max_drawdown_pct"] == pytest.approx(100.0)


def test_ruin_is_the_share_of_paths_that_touched_the_threshold():
    r = returns(100)
    settings = MC.MonteCarloSettings(paths=4_000, ruin_pct=5.0, seed=2)
    out = MC.monte_carlo(r, settings)
    _, _, _, _, marks = MC._paths_kernel(r, 4_000, False, 2, np.arange(101), 0.95)
    assert out["ruin_probability_pct"] == pytest.approx((marks.min(axis=0) <= 0.95).mean() * 100)
    assert out["loss_probability_pct"] == pytest.approx((marks[-1] < 1).mean() * 100)
    assert 0 <= out["actual"]["final_return_rank_pct"] <= 100


def test_the_fan_is_ordered_and_starts_at_zero():
    out = MC.monte_carlo(returns(500), MC.MonteCarloSettings(paths=1_000))
    fan = out["fan"]
    assert fan["trades"][0] == 0 and fan["trades"][-1] == 500 and len(fan["trades"]) <= MC.FAN_POINTS + 1
    assert all(fan[q][0] == 0 for q in ("p5", "p50", "p95", "actual"))
    rows = np.array([fan[f"p{q}"] for q in MC.PERCENTILES])
    assert (np.diff(rows, axis=0) >= -1e-9).all()


def test_no_trades_no_simulation_and_bad_settings_are_refused():
    assert MC.monte_carlo(np.zeros(0)) is None
    for bad in (
        {"paths": 0},
        {"paths": MC.MAX_PATHS + 1},
        {"method": "jackknife"},
        {"ruin_pct": 0},
        {"ruin_pct": 101},
        {"seed": -1},
    ):
        with pytest.raises(ValueError):
            MC.MonteCarloSettings(**bad)


def test_percentiles_of_sorted_values_are_numpys():
    """``_sorted_percentiles`` stands in for ``np.percentile`` (a sort is faster than NumPy's
    partitions): the same numbers, bit for bit, on ties, NaN, infinities, 1 to 20,000 values."""
    rng = np.random.default_rng(0)
    for case in range(1_200):
        n = int(rng.integers(1, 40)) if case % 3 else int(rng.integers(1, 20_000))
        values = rng.normal(0, 1, (int(rng.integers(1, 4)), n)) * 10.0 ** int(rng.integers(-5, 5))
        kind = case % 5
        if kind == 1:
            values = rng.integers(0, 5, values.shape).astype(np.float64)  # many ties
        elif kind == 2:
            values[rng.random(values.shape) < 0.05] = np.nan
        elif kind == 3:
            values[rng.random(values.shape) < 0.05] = np.inf
            values[rng.random(values.shape) < 0.05] = -np.inf
        for which in ((5, 50, 95), MC.PERCENTILES, (0, 100)):
            with np.errstate(invalid="ignore"):
                for data in (values, values[0]):
                    expected = np.percentile(data, which, axis=-1)
                    got = MC._sorted_percentiles(np.sort(data, axis=-1), which)
                    assert got.shape == expected.shape
                    assert np.array_equal(got, expected, equal_nan=True), (case, which)


@njit(nogil=True)
def _previous_paths_kernel(returns, paths, shuffle, seed, steps, ruin_level):
    """The paths as the Monte Carlo computed them before two paths walked side by side (one path
    at a time, an order of indices, branches): the reference the faster kernel must equal."""
    n = returns.shape[0]
    final = np.empty(paths)
    max_dd = np.empty(paths)
    longest = np.empty(paths, dtype=np.int64)
    ruined = np.zeros(paths, dtype=np.bool_)
    marks = np.empty((steps.shape[0], paths))
    order = np.empty(n, dtype=np.int64)
    base = np.uint64(seed) * MC._MIX1
    for p in range(paths):
        state, _ = MC._next(base + np.uint64(p) * MC._GOLDEN)
        if shuffle:
            for i in range(n):
                order[i] = i
            for i in range(n - 1, 0, -1):
                state, z = MC._next(state)
                j = MC._below(z, i + 1)
                order[i], order[j] = order[j], order[i]
        equity, peak, worst, under, longest_run, low, s = 1.0, 1.0, 0.0, 0, 0, 1.0, 0
        if steps[0] == 0:
            marks[0, p] = 1.0
            s = 1
        for k in range(n):
            if shuffle:
                q = returns[order[k]]
            else:
                state, z = MC._next(state)
                q = returns[MC._below(z, n)]
            equity = equity * (1.0 + q)
            if equity < 0.0:
                equity = 0.0
            if equity >= peak:
                peak = equity
                under = 0
            else:
                under += 1
                if under > longest_run:
                    longest_run = under
                fall = (peak - equity) / peak
                if fall > worst:
                    worst = fall
            if equity < low:
                low = equity
            if s < steps.shape[0] and steps[s] == k + 1:
                marks[s, p] = equity
                s += 1
        final[p], max_dd[p], longest[p], ruined[p] = equity, worst, longest_run, low <= ruin_level
    return final, max_dd, longest, ruined, marks


def test_the_stored_figures_are_those_of_the_previous_code(monkeypatch):
    """Every figure the worker stores, as JSON text, equals what the previous code gave: its
    kernel (one path at a time) and ``np.percentile`` in place of the sorted percentiles; both
    methods, 1 to 700 trades, odd and even path counts, wiped-out accounts."""
    rng = np.random.default_rng(1)
    cases = []
    for n in (1, 2, 3, 12, 60, 61, 62, 200, 700):
        for kind in range(3):
            r = rng.normal(0.002, 0.02 if kind else 0.3, n)
            if kind == 2:
                r[::7] = -1.0
            for method in MC.METHODS:
                for paths, seed in ((MC.DEFAULT_PATHS, MC.DEFAULT_SEED), (1, 0), (3, 5), (999, 7)):
                    ruin_pct = float(rng.choice([50.0, 5.0, 100.0]))
                    cases.append((r, MC.MonteCarloSettings(paths=paths, method=method, seed=seed, ruin_pct=ruin_pct)))
    faster = [json.dumps(MC.monte_carlo(r, settings)) for r, settings in cases]

    def numpy_percentiles(ordered, which):
        return np.percentile(ordered, which, axis=-1)

    monkeypatch.setattr(MC, "_paths_kernel", _previous_paths_kernel)
    monkeypatch.setattr(MC, "_sorted_percentiles", numpy_percentiles)
    previous = [json.dumps(MC.monte_carlo(r, settings)) for r, settings in cases]
    assert faster == previous
