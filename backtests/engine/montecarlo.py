"""Monte Carlo robustness of a trade list: how much of the result is the order and the luck of
the draw. Pure (numpy and Numba), seeded and reproducible; definitions in docs/metrics.md,
"Monte Carlo".

Each trade's return on the account, q_i = pnl_i / (C + Σ_{j<i} pnl_j) (the equity before it,
trades in entry order), is the unit that is resampled:

- ``bootstrap``: each path draws N returns with replacement (what another N trades of the same
  system could have been);
- ``shuffle``: each path is a random permutation of the N returns (the same trades in another
  order: the final return is the real one on every path, the drawdowns are not).

A path compounds them from 1: E_k = Π_{i≤k} (1 + q_i), with q_i floored at −1, so an account can
be wiped out (E = 0, and it stays there) but never goes below −100 %. Drawdowns are measured on the
equity after each trade (no marks inside a trade), in percent of the running peak, the start
included as a peak; the longest drawdown is counted in trades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from . import jit
from .jsonable import round_list

METHODS = ("bootstrap", "shuffle")
DEFAULT_PATHS = 10_000
MAX_PATHS = 100_000
DEFAULT_SEED = 14
DEFAULT_RUIN_PCT = 50.0
PERCENTILES = (5, 25, 50, 75, 95)  # of the fan chart; the summary keeps 5 / 50 / 95
FAN_POINTS = 60  # at most this many trade counts in the stored fan


def trade_returns_on_equity(pnl: np.ndarray, initial_capital: float) -> np.ndarray:
    """q_i = pnl_i / (C + Σ_{j<i} pnl_j), trades in entry order, floored at −1 (a trade cannot
    lose more than the account). Where the equity before a trade is not positive (the account is
    already gone), q_i = −1."""
    pnl = np.asarray(pnl, dtype=np.float64)
    before = initial_capital + np.concatenate(([0.0], np.cumsum(pnl)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(before > 0, pnl / before, -1.0)
    return np.maximum(returns, -1.0)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True, inline="always")
def _next(state):  # pragma: no cover - compiled
    """SplitMix64 (Steele, Lea & Flood, 2014): the next state and a 64-bit output."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return state, z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _below(value, n):  # pragma: no cover - compiled
    """A uniform integer in [0, n) from a 64-bit output (Lemire's multiply-shift on 32 bits)."""
    return np.int64(((value >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@njit(cache=True, nogil=True)
def _draw(returns, shuffle, state, drawn):  # pragma: no cover - compiled
    """One path's returns in the order it takes them, into ``drawn``, from its SplitMix64
    ``state``: a Fisher-Yates permutation of ``returns`` (shuffle) or ``len(returns)`` draws
    with replacement (bootstrap)."""
    n = returns.shape[0]
    if shuffle:
        for i in range(n):
            drawn[i] = returns[i]
        for i in range(n - 1, 0, -1):  # Fisher-Yates
            state, z = _next(state)
            j = _below(z, i + 1)
            drawn[i], drawn[j] = drawn[j], drawn[i]
    else:
        for i in range(n):
            state, z = _next(state)
            drawn[i] = returns[_below(z, n)]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _step(equity, peak, worst, under, longest_run, low, q):  # pragma: no cover - compiled
    """One trade of a path: the equity after it (floored at 0), the running peak, the worst fall
    (fraction of the peak), the trades since the peak and the longest such run, the lowest
    equity. Written without branches (the peak is at least 1, so the fall at a new peak is 0 and
    changes nothing): the compiler selects instead of jumping, a wrong guess costs nothing."""
    equity = equity * (1.0 + q)
    equity = 0.0 if equity < 0.0 else equity
    high = equity >= peak
    peak = equity if high else peak
    under = 0 if high else under + 1
    longest_run = under if under > longest_run else longest_run
    fall = (peak - equity) / peak
    worst = fall if fall > worst else worst
    low = equity if equity < low else low
    return equity, peak, worst, under, longest_run, low


@njit(cache=True, nogil=True)
def _paths_kernel(returns, paths, shuffle, seed, steps, ruin_level):  # pragma: no cover - compiled
    """For each path: final equity, max drawdown (fraction), longest drawdown (trades), whether
    the equity touched ``ruin_level``, and the equity after the trade counts in ``steps`` (one
    row per step). Path p draws from its own SplitMix64 stream seeded by (seed, p), so a path
    is the same whatever else is computed.

    Two paths walk side by side (each with its own numbers, the same operations as alone): their
    chains of dependent multiplications overlap in the CPU, about twice as fast as one by one."""
    n = returns.shape[0]
    final = np.empty(paths)
    max_dd = np.empty(paths)
    longest = np.empty(paths, dtype=np.int64)
    ruined = np.zeros(paths, dtype=np.bool_)
    marks = np.empty((steps.shape[0], paths))
    first = np.empty(n)
    second = np.empty(n)
    base = np.uint64(seed) * _MIX1
    for p in range(0, paths, 2):
        pair = p + 1 < paths  # an odd last path walks with a copy of itself, not stored
        state, _ = _next(base + np.uint64(p) * _GOLDEN)
        _draw(returns, shuffle, state, first)
        if pair:
            state, _ = _next(base + np.uint64(p + 1) * _GOLDEN)
            _draw(returns, shuffle, state, second)
        else:
            second[:] = first
        e1, peak1, worst1, under1, longest1, low1 = 1.0, 1.0, 0.0, 0, 0, 1.0
        e2, peak2, worst2, under2, longest2, low2 = 1.0, 1.0, 0.0, 0, 0, 1.0
        s = 0
        if steps[0] == 0:
            marks[0, p] = 1.0
            if pair:
                marks[0, p + 1] = 1.0
            s = 1
        for k in range(n):
            e1, peak1, worst1, under1, longest1, low1 = _step(e1, peak1, worst1, under1, longest1, low1, first[k])
            e2, peak2, worst2, under2, longest2, low2 = _step(e2, peak2, worst2, under2, longest2, low2, second[k])
            if s < steps.shape[0] and steps[s] == k + 1:
                marks[s, p] = e1
                if pair:
                    marks[s, p + 1] = e2
                s += 1
        final[p], max_dd[p], longest[p], ruined[p] = e1, worst1, longest1, low1 <= ruin_level
        if pair:
            final[p + 1], max_dd[p + 1], longest[p + 1], ruined[p + 1] = e2, worst2, longest2, low2 <= ruin_level
    return final, max_dd, longest, ruined, marks


jit.wait_for_compile(_paths_kernel)  # interpreted, 10,000 paths take minutes: wait for the compiler


def _path_stats(equity: np.ndarray) -> tuple[float, float, int]:
    """(final, max drawdown fraction, longest drawdown in trades) of one compounded path that
    starts at 1 (the start is a peak)."""
    curve = np.concatenate(([1.0], equity))
    peaks = np.maximum.accumulate(curve)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, (peaks - curve) / peaks, 0.0)
    below = curve < peaks
    longest = run = 0
    for flag in below.tolist():
        run = run + 1 if flag else 0
        longest = max(longest, run)
    return float(curve[-1]), float(falls.max()), int(longest)


@dataclass(frozen=True)
class MonteCarloSettings:
    paths: int = DEFAULT_PATHS
    method: str = "bootstrap"
    seed: int = DEFAULT_SEED
    ruin_pct: float = DEFAULT_RUIN_PCT

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not 1 <= self.paths <= MAX_PATHS:
            raise ValueError(f"paths must be 1 to {MAX_PATHS:,}, got {self.paths}")
        if not 0 < self.ruin_pct <= 100:
            raise ValueError(f"ruin_pct must be above 0 and at most 100, got {self.ruin_pct}")
        if self.seed < 0:
            raise ValueError(f"seed must be 0 or more, got {self.seed}")


def _fan_steps(trades: int, points: int = FAN_POINTS) -> np.ndarray:
    """Trade counts at which the fan is sampled: 0, …, N, at most ``points`` + 1 of them."""
    if trades <= points:
        return np.arange(trades + 1, dtype=np.int64)
    return np.unique(np.linspace(0, trades, points + 1).round().astype(np.int64))


def _percentiles(values: np.ndarray, which=(5, 50, 95)) -> dict[str, float]:
    return {f"p{q}": float(v) for q, v in zip(which, _sorted_percentiles(np.sort(values), which))}


def _sorted_percentiles(ordered: np.ndarray, which) -> np.ndarray:
    """``np.percentile(values, which, axis=-1)`` (its linear method) of ``ordered``, the values
    already sorted along the last axis: the same numbers by NumPy's own arithmetic (the order
    statistics either side of (n − 1)·q, ``_lerp``'s two forms of the interpolation, NaN for a
    row with a NaN), shaped as NumPy shapes them. NumPy finds the order statistics by partitioning
    around each of them, several times slower than its vectorised sort of 10,000 paths. A -0.0
    and a 0.0 may come out in either order (never among a path's figures: equity is floored at +0)."""
    q = np.true_divide(np.asarray(which), 100)
    n = ordered.shape[-1]
    virtual = (n - 1) * q
    lower = np.floor(virtual)
    upper = lower + 1
    at_end = virtual >= n - 1  # the last value, for q = 1 and for a single value
    lower[at_end] = upper[at_end] = -1
    gamma = virtual - lower
    a, b = ordered[..., lower.astype(np.intp)], ordered[..., upper.astype(np.intp)]
    diff = b - a
    out = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
    last = ordered[..., -1:]
    out = np.where(np.isnan(last), last, out)
    return np.moveaxis(out, -1, 0)


def monte_carlo(
    trade_returns: np.ndarray, settings: MonteCarloSettings | None = None, *, fan_points: int = FAN_POINTS
) -> dict | None:
    """Resample ``trade_returns`` (``trade_returns_on_equity``) into ``settings.paths`` paths and
    summarise them, as a JSON-ready dict (percent figures, trades for durations):

    - ``settings``: paths, method, seed, ruin_pct, trades;
    - ``final_return_pct``, ``max_drawdown_pct``, ``longest_drawdown_trades``: p5 / p50 / p95 over
      the paths;
    - ``ruin_probability_pct``: percent of paths whose equity touched (1 − ruin_pct / 100) of the
      start at any point; ``loss_probability_pct``: percent of paths that ended below the start;
    - ``actual``: the real order's final return, max drawdown and longest drawdown, and its
      ``final_return_rank_pct`` / ``max_drawdown_rank_pct``: the percent of paths at or below it;
    - ``fan``: ``{"trades": [...], "p5": [...], "p25", "p50", "p75", "p95", "actual": [...]}``,
      the return in percent after that many trades.

    None without trades. Raises ValueError for bad settings."""
    settings = settings or MonteCarloSettings()
    returns = np.maximum(np.asarray(trade_returns, dtype=np.float64), -1.0)
    n = len(returns)
    if n == 0:
        return None
    steps = _fan_steps(n, fan_points)
    final, max_dd, longest, ruined, marks = _paths_kernel(
        returns,
        settings.paths,
        settings.method == "shuffle",
        settings.seed,
        steps,
        1.0 - settings.ruin_pct / 100.0,
    )
    actual_curve = np.cumprod(1.0 + returns)
    actual_final, actual_dd, actual_longest = _path_stats(actual_curve)
    fan = {"trades": steps.tolist()}
    for q, row in zip(PERCENTILES, _sorted_percentiles(np.sort(marks, axis=1), PERCENTILES)):
        fan[f"p{q}"] = round_list((row - 1.0) * 100, 6)
    fan["actual"] = round_list((np.concatenate(([1.0], actual_curve))[steps] - 1.0) * 100, 6)
    return {
        "settings": {
            "paths": settings.paths,
            "method": settings.method,
            "seed": settings.seed,
            "ruin_pct": settings.ruin_pct,
            "trades": n,
        },
        "final_return_pct": _percentiles((final - 1.0) * 100),
        "max_drawdown_pct": _percentiles(max_dd * 100),
        "longest_drawdown_trades": _percentiles(longest.astype(np.float64)),
        "ruin_probability_pct": float(ruined.mean() * 100),
        "loss_probability_pct": float((final < 1.0).mean() * 100),
        "actual": {
            "final_return_pct": (actual_final - 1.0) * 100,
            "max_drawdown_pct": actual_dd * 100,
            "longest_drawdown_trades": actual_longest,
            "final_return_rank_pct": float((final <= actual_final + 1e-12).mean() * 100),
            "max_drawdown_rank_pct": float((max_dd <= actual_dd + 1e-12).mean() * 100),
        },
        "fan": fan,
    }


def warm_up() -> None:
    """Compile the kernel (cached on disk) so the first run does not pay for it."""
    monte_carlo(np.array([0.01, -0.005, 0.002]), MonteCarloSettings(paths=2, method="shuffle"))
    monte_carlo(np.array([0.01, -0.005, 0.002]), MonteCarloSettings(paths=2))
