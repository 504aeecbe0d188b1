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
from modules.common.welford import INV_COND_TOL, add_var, remove_var

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
    times = np.asarray(day_times_ns, dtype=np.int64)
    if (np.diff(times) < 0).any():
        raise ValueError("index values must be monotonic")  # as pandas' time-based rolling
    day = 86_400_000_000_000
    mean, std, var_b, cov = _rolling_moments(
        jit.read_only(times, np.int64),
        window_days * day,
        jit.read_only(strategy, np.float64),
        jit.read_only(benchmark, np.float64),
    )
    start = start_ns if start_ns is not None else int(times[0]) - day
    full = times >= start + window_days * day
    if not full.any():
        return out
    with np.errstate(divide="ignore", invalid="ignore"):  # the arrays' quotients, as the Series' were
        sharpe = (mean / std) * (math.sqrt(days_per_year) if days_per_year else math.nan)
        betas = cov / var_b
    sharpe = np.where(std > 1e-15, sharpe, np.nan)
    betas = np.where(var_b > 1e-30, betas, np.nan)
    out["time"] = iso_times(times[full].view("datetime64[ns]"))
    out["sharpe"] = [v if math.isfinite(v) else None for v in round_list(sharpe[full], 10)]
    out["beta"] = [v if math.isfinite(v) else None for v in round_list(betas[full], 10)]
    return out


@njit(cache=True, nogil=True)
def _rolling_moments(times, window, d, b):  # pragma: no cover - compiled
    """pandas' ``Series.rolling(window ns)`` over ``times`` (ascending ns): ``.mean()`` and
    ``.std(ddof=1)`` of ``d``, ``.var(ddof=1)`` of ``b`` and ``.cov(b, ddof=1)`` of ``d``, in one
    pass. Ports of pandas 3.1's ``calculate_variable_window_bounds`` (closed="right", so each
    window is (t − window, t]) and of ``roll_mean``, ``roll_var`` (then ``zsqrt``) and
    ``roll_cov`` (on ``d + 0·b`` and ``b + 0·d``, as pandas aligns the pair), min_periods 1,
    doing the same float operations in the same order: the values are pandas' to the bit. The
    bounds of ascending times are monotonic, so pandas' non-monotonic branches never run."""
    n = times.shape[0]
    mean = np.empty(n)
    std = np.empty(n)
    var_b = np.empty(n)
    cov = np.empty(n)
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    # roll_mean's state
    m_sum = m_add = m_remove = m_prev = 0.0
    m_nobs = m_neg = m_same = 0
    # roll_var's, for d and for b
    dn = dmean = dm2 = dadd = dremove = 0.0
    d_unstable = False
    bn = bmean = bm2 = badd = bremove = 0.0
    b_unstable = False
    # roll_cov's
    cn = cmx = cmy = cxy = cxx = cyy = cox = coy = cpx = cpy = 0.0
    c_unstable = False
    for i in range(n):
        if i == 0:
            start[0] = 0
            end[0] = 1
        else:
            bound = times[i] - window
            start[i] = i
            for j in range(start[i - 1], i):
                if times[j] - bound > 0:
                    start[i] = j
                    break
            if times[end[i - 1]] - times[i] <= 0:
                end[i] = i + 1
            else:
                end[i] = end[i - 1]
        s = start[i]
        e = end[i]
        recompute = i == 0 or s >= end[i - 1]

        # roll_mean
        if recompute:
            m_add = m_remove = m_sum = 0.0
            m_nobs = m_neg = 0
            m_prev = d[s]
            m_same = 0
            for j in range(s, e):
                m_nobs, m_sum, m_neg, m_add, m_same, m_prev = _add_mean(
                    d[j], m_nobs, m_sum, m_neg, m_add, m_same, m_prev
                )
        else:
            for j in range(start[i - 1], s):
                m_nobs, m_sum, m_neg, m_remove = _remove_mean(d[j], m_nobs, m_sum, m_neg, m_remove)
            for j in range(end[i - 1], e):
                m_nobs, m_sum, m_neg, m_add, m_same, m_prev = _add_mean(
                    d[j], m_nobs, m_sum, m_neg, m_add, m_same, m_prev
                )
        if m_nobs >= 1:
            result = m_sum / m_nobs
            if m_same >= m_nobs:
                result = m_prev
            elif m_neg == 0 and result < 0 or m_neg == m_nobs and result > 0:
                result = 0.0
            mean[i] = result
        else:
            mean[i] = np.nan

        # roll_var of d (then zsqrt) and of b
        v, dn, dmean, dm2, dadd, dremove, d_unstable = _roll_var_step(
            d, i, start, end, recompute, dn, dmean, dm2, dadd, dremove, d_unstable
        )
        std[i] = 0.0 if v < 0.0 else np.sqrt(v)  # NaN stays NaN
        var_b[i], bn, bmean, bm2, badd, bremove, b_unstable = _roll_var_step(
            b, i, start, end, recompute, bn, bmean, bm2, badd, bremove, b_unstable
        )

        # roll_cov of (d + 0·b, b + 0·d)
        if not recompute:
            for j in range(start[i - 1], s):
                cn, cmx, cmy, cox, coy, cxy, cxx, cyy, cpx, cpy, c_unstable = _remove_cov(
                    d[j] + 0.0 * b[j], b[j] + 0.0 * d[j], cn, cmx, cmy, cox, coy, cxy, cxx, cyy, cpx, cpy, c_unstable
                )
            for j in range(end[i - 1], e):
                cn, cmx, cmy, cox, coy, cxy, cxx, cyy, cpx, cpy, c_unstable = _add_cov(
                    d[j] + 0.0 * b[j], b[j] + 0.0 * d[j], cn, cmx, cmy, cox, coy, cxy, cxx, cyy, cpx, cpy, c_unstable
                )
        if recompute or c_unstable:
            cn = cmx = cmy = cxy = cxx = cyy = 0.0
            cox = coy = cpx = cpy = 0.0
            for j in range(s, e):
                cn, cmx, cmy, cox, coy, cxy, cxx, cyy, cpx, cpy, c_unstable = _add_cov(
                    d[j] + 0.0 * b[j], b[j] + 0.0 * d[j], cn, cmx, cmy, cox, coy, cxy, cxx, cyy, cpx, cpy, c_unstable
                )
            c_unstable = False
        cov[i] = np.nan if cn < 1.0 or cn <= 1.0 else cxy / (cn - 1.0)
    return mean, std, var_b, cov


@njit(cache=True, nogil=True, inline="always")
def _roll_var_step(values, i, start, end, recompute, nobs, mean_x, ssqdm_x, add, remove, unstable):  # pragma: no cover
    """pandas' ``roll_var`` (ddof 1, min_periods 1) at window ``i``: the values that left and
    entered since window i − 1 removed and added, or the window summed afresh (the first, one
    disjoint from the last, or digits lost). Returns the variance and the new state."""
    s = start[i]
    e = end[i]
    if not recompute:
        for j in range(start[i - 1], s):
            nobs, mean_x, ssqdm_x, remove, unstable = remove_var(values[j], nobs, mean_x, ssqdm_x, remove, unstable)
        for j in range(end[i - 1], e):
            nobs, mean_x, ssqdm_x, add, unstable = add_var(values[j], nobs, mean_x, ssqdm_x, add, unstable)
    if recompute or unstable:
        nobs = mean_x = ssqdm_x = add = remove = 0.0
        for j in range(s, e):
            nobs, mean_x, ssqdm_x, add, unstable = add_var(values[j], nobs, mean_x, ssqdm_x, add, unstable)
        unstable = False
    var = ssqdm_x / (nobs - 1.0) if nobs >= 1.0 and nobs > 1.0 else np.nan
    return var, nobs, mean_x, ssqdm_x, add, remove, unstable


@njit(cache=True, nogil=True, inline="always")
def _add_mean(val, nobs, sum_x, neg_ct, compensation, same, prev):  # pragma: no cover - compiled
    """pandas' ``add_mean`` (Kahan sum, negatives and the run of equal values counted; inf is
    missing, as pandas' window input turns it into NaN)."""
    if np.isfinite(val):
        nobs += 1
        y = val - compensation
        t = sum_x + y
        compensation = t - sum_x - y
        sum_x = t
        if math.copysign(1.0, val) < 0.0:
            neg_ct += 1
        if val == prev:
            same += 1
        else:
            same = 1
        prev = val
    return nobs, sum_x, neg_ct, compensation, same, prev


@njit(cache=True, nogil=True, inline="always")
def _remove_mean(val, nobs, sum_x, neg_ct, compensation):  # pragma: no cover - compiled
    """pandas' ``remove_mean``."""
    if np.isfinite(val):
        nobs -= 1
        y = -val - compensation
        t = sum_x + y
        compensation = t - sum_x - y
        sum_x = t
        if math.copysign(1.0, val) < 0.0:
            neg_ct -= 1
    return nobs, sum_x, neg_ct, compensation


#: the largest magnitude pandas' cov accumulators re-anchor on (``MaxOriginMagnitude``)
_MAX_ORIGIN = float(np.sqrt(np.finfo(np.float64).max))


@njit(cache=True, nogil=True, inline="always")
def _cov_unstable(sxy, sxx, syy, px, py):  # pragma: no cover - compiled
    """pandas' ``cancellation_suspected``."""
    if sxy != sxy or sxx != sxx or syy != syy:
        return True
    return px * py * INV_COND_TOL > abs(sxy) or px * px * INV_COND_TOL > sxx or py * py * INV_COND_TOL > syy


@njit(cache=True, nogil=True, inline="always")
def _add_cov(vx, vy, nobs, mx, my, ox, oy, sxy, sxx, syy, px, py, unstable):  # pragma: no cover - compiled
    """pandas' ``add_cov`` (anchored at the window's first value, peak deviations tracked)."""
    if not (np.isfinite(vx) and np.isfinite(vy)):
        return nobs, mx, my, ox, oy, sxy, sxx, syy, px, py, unstable
    nobs += 1.0
    if nobs == 1.0:
        ox = vx if abs(vx) < _MAX_ORIGIN else 0.0
        oy = vy if abs(vy) < _MAX_ORIGIN else 0.0
    shifted_x = vx - ox
    shifted_y = vy - oy
    dx = shifted_x - mx
    dy = shifted_y - my
    mx += dx / nobs
    my += dy / nobs
    sxy += (shifted_x - mx) * dy
    sxx += (shifted_x - mx) * dx
    syy += (shifted_y - my) * dy
    px, py = _peak_dev(shifted_x, shifted_y, mx, my, px, py)
    if _cov_unstable(sxy, sxx, syy, px, py):
        unstable = True
    return nobs, mx, my, ox, oy, sxy, sxx, syy, px, py, unstable


@njit(cache=True, nogil=True, inline="always")
def _remove_cov(vx, vy, nobs, mx, my, ox, oy, sxy, sxx, syy, px, py, unstable):  # pragma: no cover - compiled
    """pandas' ``remove_cov``."""
    if not (np.isfinite(vx) and np.isfinite(vy)):
        return nobs, mx, my, ox, oy, sxy, sxx, syy, px, py, unstable
    shifted_x = vx - ox
    shifted_y = vy - oy
    dx = shifted_x - mx
    dy = shifted_y - my
    nobs -= 1.0
    if nobs != 0.0:
        mx -= dx / nobs
        my -= dy / nobs
        sxy -= (shifted_x - mx) * dy
        sxx -= (shifted_x - mx) * dx
        syy -= (shifted_y - my) * dy
        px, py = _peak_dev(shifted_x, shifted_y, mx, my, px, py)
        if _cov_unstable(sxy, sxx, syy, px, py):
            unstable = True
    else:
        mx = my = ox = oy = sxy = sxx = syy = px = py = 0.0
        unstable = False
    return nobs, mx, my, ox, oy, sxy, sxx, syy, px, py, unstable


@njit(cache=True, nogil=True, inline="always")
def _peak_dev(x, y, mx, my, px, py):  # pragma: no cover - compiled
    """pandas' ``track_peak_dev``: the largest deviations from the means seen."""
    dev_x = abs(x - mx)
    dev_y = abs(y - my)
    if dev_x > px:
        px = dev_x
    if dev_y > py:
        py = dev_y
    return px, py
