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
def _paths_kernel(returns, paths, shuffle, seed, steps, ruin_level):  # pragma: no cover - compiled
    """For each path: final equity, max drawdown (fraction), longest drawdown (trades), whether
    the equity touched ``ruin_level``, and the equity after the trade counts in ``steps`` (one
    row per step). Path p draws from its own SplitMix64 stream seeded by (seed, p), so a path
    is the same whatever else is computed."""
    n = returns.shape[0]
    final = np.empty(paths)
    max_dd = np.empty(paths)
    longest = np.empty(paths, dtype=np.int64)
    ruined = np.zeros(paths, dtype=np.bool_)
    marks = np.empty((steps.shape[0], paths))
    order = np.empty(n, dtype=np.int64)
    base = np.uint64(seed) * _MIX1
    for p in range(paths):
        state, _ = _next(base + np.uint64(p) * _GOLDEN)
        if shuffle:
            for i in range(n):
                order[i] = i
            for i in range(n - 1, 0, -1):  # Fisher-Yates
                state, z = _next(state)
                j = _below(z, i + 1)
                order[i], order[j] = order[j], order[i]
        equity = 1.0
        peak = 1.0
        worst = 0.0
        under = 0
        longest_run = 0
        low = 1.0
        s = 0
        if steps[0] == 0:
            marks[0, p] = 1.0
            s = 1
        for k in range(n):
            if shuffle:
                q = returns[order[k]]
            else:
                state, z = _next(state)
                q = returns[_below(z, n)]
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
        final[p] = equity
        max_dd[p] = worst
        longest[p] = longest_run
        ruined[p] = low <= ruin_level
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
    return {f"p{q}": float(v) for q, v in zip(which, np.percentile(values, which))}


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
    for q, row in zip(PERCENTILES, np.percentile(marks, PERCENTILES, axis=1)):
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
