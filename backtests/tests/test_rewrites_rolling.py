"""The rolling Sharpe and beta computed in one compiled pass (ports of pandas' roll_mean,
roll_var and roll_cov on time windows) against the previous code on pandas' rolling windows,
kept verbatim here: the same output to the bit, and the same moments as pandas'."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtests.engine import benchmark as B
from backtests.engine.jsonable import iso_times, round_list

DAY = 86_400 * 10**9


def _previous_rolling_series(
    day_times_ns: np.ndarray,
    strategy: np.ndarray,
    benchmark: np.ndarray,
    days_per_year: float | None,
    window_days: int = B.ROLLING_WINDOW_DAYS,
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


def _case(rng, n, *, flat=False, scale=0.01, gaps=10):
    """n days 1..``gaps`` days apart (so windows hold varying counts), returns of ``scale``;
    ``flat``: constant stretches (zero variance) in both series."""
    steps = rng.integers(1, gaps + 1, n)
    times = (np.int64(19_000) + np.cumsum(steps)).astype(np.int64) * DAY + 23 * 3_600 * 10**9
    d, b = rng.normal(0, scale, n), rng.normal(0, scale, n)
    if flat and n:
        for _ in range(1 + n // 40):
            a = int(rng.integers(0, n))
            z = a + int(rng.integers(1, 120))
            d[a:z] = float(rng.choice([0.0, 0.001, -0.002, scale]))
            a = int(rng.integers(0, n))
            b[a : a + int(rng.integers(1, 120))] = float(rng.choice([0.0, 0.003, -scale]))
    return times, d, b


def _same(new: Any, old: Any) -> None:
    """Equal JSON text, and each float the same bits (repr), None where None."""
    assert json.dumps(new) == json.dumps(old)
    assert new.keys() == old.keys()
    for key in ("sharpe", "beta"):
        assert [repr(v) for v in new[key]] == [repr(v) for v in old[key]]
    assert new["time"] == old["time"]


@pytest.mark.parametrize("seed", range(6))
def test_rolling_series_is_the_previous_code_to_the_bit(seed):
    rng = np.random.default_rng(seed)
    for n in (0, 1, 2, 3, 50, 400, 2000):
        for flat in (False, True):
            for scale in (0.01, 1e-9, 1e6, 1e-150, 1e150):
                times, d, b = _case(rng, n, flat=flat, scale=scale, gaps=int(rng.integers(1, 11)))
                for window_days, per_year, start in (
                    (90, 365.0, None),
                    (90, None, None),
                    (30, 252.0, int(times[0]) - 3 * DAY if n else 0),
                    (7, 260.9, None),
                    (1, 365.0, None),
                    (365, 365.0, int(times[0]) - 400 * DAY if n else None),
                ):
                    new = B.rolling_series(times, d, b, per_year, window_days, start_ns=start)
                    old = _previous_rolling_series(times, d, b, per_year, window_days, start_ns=start)
                    _same(new, old)


def test_the_moments_are_pandas_own_to_the_bit():
    """The kernel's mean, std, var and cov against pandas' rolling ones, NaN positions included,
    on gaps, flat stretches, offsets shared by the whole series, tiny and huge magnitudes."""
    rng = np.random.default_rng(7)
    for case in range(60):
        n = (2, 3, 50, 400, 2000)[case % 5]
        scale = (0.01, 1e-12, 1e9, 1e-200, 1e200)[case % 5 - (case // 5) % 5]
        times, d, b = _case(rng, n, flat=case % 2 == 1, scale=scale, gaps=1 + case % 10)
        if case % 3 == 2:
            d = d + 1e6 * scale  # a shared offset: the cov's anchoring and recomputes
        window = (90, 30, 7, 1, 365)[case % 5 - 1]
        index = pd.DatetimeIndex(times.view("datetime64[ns]")).tz_localize("UTC")
        ds, bs = pd.Series(d, index=index), pd.Series(b, index=index)
        rolling = ds.rolling(f"{window}D")
        expected = (
            rolling.mean().to_numpy(),
            rolling.std(ddof=1).to_numpy(),
            bs.rolling(f"{window}D").var(ddof=1).to_numpy(),
            rolling.cov(bs, ddof=1).to_numpy(),
        )
        got = B._rolling_moments(times, window * DAY, d, b)
        for g, e in zip(got, expected, strict=True):
            assert np.array_equal(g.view(np.int64), e.view(np.int64))


def test_missing_and_infinite_returns_are_skipped_as_pandas_does():
    rng = np.random.default_rng(3)
    times, d, b = _case(rng, 300, flat=True)
    d[[5, 40, 41]] = np.nan
    b[[40, 90]] = np.nan
    d[120], b[200] = np.inf, -np.inf
    _same(B.rolling_series(times, d, b, 365.0), _previous_rolling_series(times, d, b, 365.0))


def test_unordered_days_raise_as_before():
    times = np.array([3, 1, 2], dtype=np.int64) * DAY
    d = np.array([0.01, 0.02, -0.01])
    with pytest.raises(ValueError):
        _previous_rolling_series(times, d, d, 365.0)
    with pytest.raises(ValueError):
        B.rolling_series(times, d, d, 365.0)
