"""The strategy against a benchmark: pure functions of the equity curve and the benchmark's closes.

The benchmark is buy-and-hold of the run's own market by default, or another symbol or dataset
the request names; either way it arrives here as a series of closes. Both are compared on
**daily** returns: the value at the last bar of each UTC day of the equity curve (the benchmark's
last close at or before that bar), against the previous day's. Formulas, units and edge cases are
in docs/metrics.md ("Benchmark"). Units: ``*_pct`` are percent; ratios plain numbers; a metric
that is not defined is ``None``, never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from backtests.engine import jit
from backtests.engine import metrics as M
from backtests.engine.jsonable import iso_times, round_list

ROLLING_WINDOW_DAYS = 90  # calendar days of daily returns behind each point of the rolling charts
#: the numeric figures ``compare`` adds to a run's metrics (besides the ``benchmark`` name), in reading order
FIGURES = (
    "benchmark_return_pct",
    "alpha_pct",
    "beta",
    "correlation",
    "tracking_error_pct",
    "information_ratio",
    "up_capture_pct",
    "down_capture_pct",
    "benchmark_days",
)


@dataclass
class BenchmarkComparison:
    """``metrics``: the keys added to the run's metrics; ``rolling``: the rolling 90-day Sharpe
    and beta, ``{"window_days", "time": [iso, ...], "sharpe": [...], "beta": [...]}`` (empty lists
    when the run is shorter than the window)."""

    metrics: dict[str, Any]
    rolling: dict[str, Any] = field(default_factory=dict)


def closes_at(closes: pd.Series, times: pd.DatetimeIndex) -> np.ndarray:
    """The last close at or before each of ``times`` (as of, no look-ahead); NaN before the
    first close."""
    closes = closes.dropna()
    if closes.empty or not len(times):
        return np.full(len(times), np.nan)
    positions = _last_at_or_before(closes.index, times)
    values = closes.to_numpy(np.float64)[np.clip(positions, 0, None)]
    return np.where(positions >= 0, values, np.nan)


def _last_at_or_before(index: pd.Index, times) -> np.ndarray:
    """``index.searchsorted(times, side="right") - 1``: the position of the last label at or
    before each time, -1 before the first. Both in time order (bars always are), on the same
    unit and with time zones: one compiled walk through both instead of a binary search per
    time; otherwise pandas' search."""
    if (
        isinstance(index, pd.DatetimeIndex)
        and isinstance(times, pd.DatetimeIndex)
        and index.tz is not None
        and times.tz is not None
        and index.unit == times.unit
        and not index.hasnans
        and not times.hasnans
        and index.is_monotonic_increasing
        and times.is_monotonic_increasing
        and jit.usable(_walk_at_or_before)
    ):
        # asi8 counts from the epoch in UTC whatever the zone, as the search compares
        return _walk_at_or_before(jit.read_only(index.asi8, np.int64), jit.read_only(times.asi8, np.int64))
    return index.searchsorted(times, side="right") - 1


@njit(cache=True, nogil=True)
def _walk_at_or_before(labels, times):  # pragma: no cover - compiled
    """For each of ``times`` (ascending), the last position in ``labels`` (ascending) at or before
    it, -1 before the first: a merge of the two sorted sequences."""
    out = np.empty(times.shape[0], dtype=np.int64)
    j = -1
    for i in range(times.shape[0]):
        while j + 1 < labels.shape[0] and labels[j + 1] <= times[i]:
            j += 1
        out[i] = j
    return out


def daily_return_pairs(equity: pd.Series, benchmark: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(day-close times in ns, strategy daily returns, benchmark daily returns): both series
    sampled at the equity curve's last bar of each UTC day, r_j = v_j / v_{j−1} − 1. A day whose
    return is not finite on either side (no benchmark price yet, equity at 0) is left out."""
    times = pd.DatetimeIndex(equity.index).as_unit("ns").asi8
    values, day_times = M.daily_closes(equity.to_numpy(np.float64), times)
    bench, _ = M.daily_closes(np.asarray(benchmark, dtype=np.float64), times)
    strategy, against = M.simple_returns(values), M.simple_returns(bench)
    keep = np.isfinite(strategy) & np.isfinite(against)
    return day_times[1:][keep], strategy[keep], against[keep]


def beta(strategy: np.ndarray, benchmark: np.ndarray) -> float | None:
    """cov(d, b) / var(b), sample (ddof 1) moments. None under 2 pairs or when the benchmark
    never moved."""
    if len(strategy) < 2 or M._constant(benchmark):
        return None
    return M.finite_or_none(np.cov(strategy, benchmark, ddof=1)[0, 1] / np.var(benchmark, ddof=1))


def correlation(strategy: np.ndarray, benchmark: np.ndarray) -> float | None:
    """Pearson correlation of the paired returns. None under 2 pairs or when either is constant."""
    if len(strategy) < 2 or M._constant(strategy) or M._constant(benchmark):
        return None
    return M.finite_or_none(np.corrcoef(strategy, benchmark)[0, 1])


def capture_pct(strategy: np.ndarray, benchmark: np.ndarray, *, up: bool) -> float | None:
    """Up (down) capture, percent: 100 × mean(d on the days the benchmark rose (fell)) / mean(b
    on those days). None without such a day."""
    days = benchmark > 0 if up else benchmark < 0
    if not days.any():
        return None
    return M.finite_or_none(100.0 * strategy[days].mean() / benchmark[days].mean())


def compare(
    equity: pd.Series,
    benchmark_closes: pd.Series,
    *,
    days_per_year: float | None,
    name: str = "",
    at: np.ndarray | None = None,
) -> BenchmarkComparison:
    """The strategy's equity (money, per bar, UTC index) against ``benchmark_closes`` (UTC index;
    sampled as of each equity bar). ``days_per_year``: the market's trading days a year
    (``Annualisation.days_per_year``); None leaves the annualised figures undefined.

    Metrics: ``benchmark`` (``name``), ``benchmark_return_pct`` (from the first to the last equity
    bar), ``alpha_pct``, ``beta``, ``correlation``, ``tracking_error_pct``, ``information_ratio``,
    ``up_capture_pct``, ``down_capture_pct``, ``benchmark_days`` (paired daily returns).

    ``at``: ``closes_at(benchmark_closes, equity.index)`` where the caller has it already (the runs
    of a batch's chunk over one window share it)."""
    if at is None:
        at = closes_at(benchmark_closes, pd.DatetimeIndex(equity.index))
    day_times, d, b = daily_return_pairs(equity, at)
    first = at[np.isfinite(at)]
    bench_return = (first[-1] / first[0] - 1.0) * 100.0 if len(first) and first[0] > 0 else None
    b_beta = beta(d, b)
    excess = d - b
    spread = float(excess.std(ddof=1)) if len(excess) >= 2 else math.nan
    annual = math.sqrt(days_per_year) if days_per_year else math.nan
    metrics: dict[str, Any] = {
        "benchmark": name,
        "benchmark_return_pct": bench_return,
        "alpha_pct": (
            100.0 * days_per_year * (d.mean() - b_beta * b.mean()) if b_beta is not None and days_per_year else None
        ),
        "beta": b_beta,
        "correlation": correlation(d, b),
        "tracking_error_pct": 100.0 * spread * annual,
        "information_ratio": (
            excess.mean() / spread * annual if len(excess) >= 2 and not M._constant(excess) else None
        ),
        "up_capture_pct": capture_pct(d, b, up=True),
        "down_capture_pct": capture_pct(d, b, up=False),
        "benchmark_days": int(len(d)),
    }
    metrics = {k: M.finite_or_none(v) if isinstance(v, float) else v for k, v in metrics.items()}
    start_ns = int(equity.index[0].value) if len(equity) else 0
    return BenchmarkComparison(metrics, rolling_series(day_times, d, b, days_per_year, start_ns=start_ns))


def rolling_series(
    day_times_ns: np.ndarray,
    strategy: np.ndarray,
    benchmark: np.ndarray,
    days_per_year: float | None,
    window_days: int = ROLLING_WINDOW_DAYS,
    *,
    start_ns: int | None = None,
) -> dict[str, Any]:
    """Rolling Sharpe of the strategy's daily returns (annualised by √``days_per_year``) and
    rolling beta against the benchmark, each over the daily returns of the ``window_days``
    calendar days ending at a day (t − window, t]. Points start at the first day a full window
    lies behind: ``window_days`` after ``start_ns``, the first bar of the curve (default: the
    first return's day minus one day); a window without variation is null. Times are ISO 8601 UTC."""
    out: dict[str, Any] = {"window_days": window_days, "time": [], "sharpe": [], "beta": []}
    if len(strategy) < 2:
        return out
    # the days as pd.to_datetime(ns, utc=True) gives them, without its parsing
    index = pd.DatetimeIndex(np.asarray(day_times_ns, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")
    d, b = pd.Series(strategy, index=index), pd.Series(benchmark, index=index)
    rolling = d.rolling(f"{window_days}D")
    mean, std = rolling.mean().to_numpy(), rolling.std(ddof=1).to_numpy()
    var_b = b.rolling(f"{window_days}D").var(ddof=1).to_numpy()
    cov = rolling.cov(b, ddof=1).to_numpy()
    start = pd.Timestamp(start_ns, tz="UTC") if start_ns is not None else index[0] - pd.Timedelta(days=1)
    full = index >= start + pd.Timedelta(days=window_days)
    if not full.any():
        return out
    with np.errstate(divide="ignore", invalid="ignore"):  # the arrays' quotients, as the Series' were
        sharpe = (mean / std) * (math.sqrt(days_per_year) if days_per_year else math.nan)
        betas = cov / var_b
    sharpe = np.where(std > 1e-15, sharpe, np.nan)
    betas = np.where(var_b > 1e-30, betas, np.nan)
    out["time"] = iso_times(index[full])
    out["sharpe"] = [v if math.isfinite(v) else None for v in round_list(sharpe[full], 10)]
    out["beta"] = [v if math.isfinite(v) else None for v in round_list(betas[full], 10)]
    return out
