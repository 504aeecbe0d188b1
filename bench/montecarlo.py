"""Monte Carlo speed: 10,000 paths × 500 trades, by method, against a plain NumPy floor.

    python3 bench/montecarlo.py [--paths 10000] [--trades 500] [--repeat 15]

Times ``backtests.engine.montecarlo.monte_carlo`` (the compiled paths, every summary and the fan
percentiles: what the worker stores and the API answers) after a warm-up that compiles the
kernel, with ``--repeat`` calls per row. The floor is the bootstrap written in plain vectorised
NumPy in the same process (draw an index matrix, take, cumprod, running max, max drawdown and
finals only: less than the engine computes), so the ratio says what compiling buys on this
machine. Also times the API's cap, 100,000 paths. Prints a Markdown table; goal: the default
10,000 × 500 under 150 ms (median) for both methods.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backtests.engine import montecarlo as mc  # noqa: E402

GOAL_MS = 150.0


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def numpy_floor(returns: np.ndarray, paths: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    drawn = returns[rng.integers(0, len(returns), size=(paths, len(returns)))]
    equity = np.cumprod(1.0 + drawn, axis=1)
    peaks = np.maximum.accumulate(np.maximum(equity, 1.0), axis=1)
    np.percentile(((peaks - equity) / peaks).max(axis=1), (5, 50, 95))
    np.percentile(equity[:, -1], (5, 50, 95))


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=mc.DEFAULT_PATHS)
    parser.add_argument("--trades", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    returns = np.random.default_rng(7).normal(0.002, 0.012, args.trades)
    started = time.perf_counter()
    mc.warm_up()
    warm_up_ms = (time.perf_counter() - started) * 1000

    rows = []
    for method in mc.METHODS:
        settings = mc.MonteCarloSettings(paths=args.paths, method=method)
        rows.append(
            (
                f"{method}, {args.paths:,} paths × {args.trades} trades",
                timed(lambda s=settings: mc.monte_carlo(returns, s), args.repeat),
            )
        )
    floor = timed(lambda: numpy_floor(returns, args.paths, 1), args.repeat)
    cap = mc.MonteCarloSettings(paths=mc.MAX_PATHS)
    capped = timed(lambda: mc.monte_carlo(returns, cap), max(3, args.repeat // 5))

    print(f"Monte Carlo, {args.trades} trades (kernel compile or cache load once: {warm_up_ms:.0f} ms)\n")
    print("| what | runs | median ms | p95 ms | × NumPy floor |")
    print("|---|---:|---:|---:|---:|")
    floor_median = statistics.median(floor)
    for label, times in rows:
        median = statistics.median(times)
        print(f"| {label} | {len(times)} | {median:.1f} | {p95(times):.1f} | {floor_median / median:.1f}× faster |")
    print(
        f"| NumPy floor: bootstrap, finals and max drawdowns only | {len(floor)} | {floor_median:.1f} | "
        f"{p95(floor):.1f} | 1.0× |"
    )
    print(
        f"| bootstrap at the API cap, {mc.MAX_PATHS:,} paths | {len(capped)} | {statistics.median(capped):.1f} | "
        f"{p95(capped):.1f} | |"
    )
    worst = max(statistics.median(times) for _, times in rows)
    verdict = "met" if worst < GOAL_MS else "NOT met"
    print(f"\ngoal: {args.paths:,} × {args.trades} under {GOAL_MS:.0f} ms: {verdict} ({worst:.1f} ms, slower method)")


if __name__ == "__main__":
    main()
