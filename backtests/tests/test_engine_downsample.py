"""The one equity downsampler: a thinned curve keeps its extremes, so the drawdown drawn from
it is the drawdown the metrics computed. Pure: no Django."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests.engine import downsample as D
from backtests.engine import metrics as M
from backtests.engine.downsample import downsample_equity


def curve(values) -> pd.Series:
    return pd.Series(
        np.asarray(values, dtype=np.float64),
        index=pd.date_range("2024-01-01", periods=len(values), freq="15min", tz="UTC"),
    )


def values_of(points) -> np.ndarray:
    return np.array([v for _, v in points])


def test_a_short_curve_is_kept_whole_and_an_empty_one_gives_nothing():
    equity = curve([100, 101, 99.5])
    assert downsample_equity(equity) == [
        ["2024-01-01T00:00:00+00:00", 100.0],
        ["2024-01-01T00:15:00+00:00", 101.0],
        ["2024-01-01T00:30:00+00:00", 99.5],
    ]
    assert downsample_equity(curve([])) == []


def test_a_long_curve_keeps_at_most_about_points_pairs_in_time_order_with_both_ends():
    rng = np.random.default_rng(7)
    equity = curve(10_000 * np.cumprod(1 + rng.normal(0, 0.002, 50_000)))
    points = downsample_equity(equity, points=600)
    assert len(points) <= 604
    times = [pd.Timestamp(t) for t, _ in points]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert points[0][0] == equity.index[0].isoformat() and points[-1][0] == equity.index[-1].isoformat()
    assert values_of(points).max() == pytest.approx(equity.max()) and values_of(points).min() == pytest.approx(
        equity.min()
    )


def test_the_drawn_drawdown_equals_the_computed_one():
    rng = np.random.default_rng(3)
    # The worst fall peaks and bottoms inside one bucket, with a higher value after it in the
    # same bucket: a per-bucket min/max alone would lose the peak.
    values = 10_000 * np.cumprod(1 + rng.normal(0.0002, 0.001, 20_000))
    values[10_000] = values[:10_000].max() * 1.01
    values[10_001:10_004] = values[10_000] * np.array([0.7, 0.69, 1.5])
    values[10_004:] *= 1.5 * values[10_000] / values[10_004]
    equity = curve(values)
    drawn = values_of(downsample_equity(equity, points=100))
    assert M.max_drawdown_pct(drawn) == pytest.approx(M.max_drawdown_pct(values), rel=1e-9)


def test_every_nth_point_would_have_missed_the_drawdown():
    values = np.full(6_000, 10_000.0)
    values[3_001] = 8_000.0  # one bar down 20 %, between two picks of every tenth bar
    drawn = values_of(downsample_equity(curve(values), points=600))
    assert M.max_drawdown_pct(drawn) == pytest.approx(20.0)
    assert M.max_drawdown_pct(values[::10]) == 0.0


def test_the_downsampler_imports_no_django():
    code = (
        "import sys, backtests.engine.downsample; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'celery')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def _previous_downsample(equity: pd.Series, points: int) -> list[list]:
    """The downsampler before its compiled pass (the picks by NumPy, the pairs by pandas' iloc and
    each time's isoformat): the reference the stored curves must equal."""
    values = equity.to_numpy(dtype=np.float64)
    n = len(values)
    if n <= max(points, 2):
        positions = np.arange(n)
    else:
        edges = np.linspace(0, n, max(1, points // 2) + 1).astype(np.int64)
        kept = np.zeros(n, dtype=bool)
        kept[[0, n - 1, *D._max_drawdown_positions(values)]] = True
        kept[D._bucket_extremes(values, edges)] = True
        positions = np.flatnonzero(kept)
    picked = equity.iloc[positions]
    return [[t.isoformat(), round(float(v), 6)] for t, v in zip(picked.index, picked.to_numpy(np.float64))]


def _curves() -> list[np.ndarray]:
    rng = np.random.default_rng(19)
    out = [10_000 * np.cumprod(1 + rng.normal(0, 0.002, n)) for n in (1, 2, 3, 599, 600, 601, 5_001, 25_152, 100_000)]
    flat = np.repeat(10_000 + np.round(rng.normal(0, 50, 400), 0), 60)  # long stretches of equal values
    ruined = 10_000 - np.arange(30_000) * 0.5  # down to below zero: peaks that are not positive
    out += [flat, ruined, -ruined, np.sort(out[-1]), np.sort(out[-1])[::-1], np.full(7_000, 10_000.0)]
    with_nan, with_inf, huge = out[-7].copy(), out[-7].copy(), out[-7].copy()
    with_nan[[5, 12_000]] = np.nan
    with_inf[9_000] = np.inf
    huge[[100, 101]] = [1.7e308, -1.7e308]  # a fall that overflows
    return [*out, with_nan, with_inf, huge]


def test_the_stored_pairs_are_those_of_the_previous_code():
    """The compiled pass picks the same bars as NumPy did, and the pairs are the same JSON text:
    random walks of 1 to 100,000 bars, flat stretches, a ruined account, sorted curves, NaN,
    infinities, a fall that overflows; thinned to 1 to 5,000 points."""
    for values in _curves():
        equity = curve(values)
        for points in (1, 3, 100, 600, 5_000):
            with np.errstate(over="ignore"):  # the overflowing fall
                assert json.dumps(downsample_equity(equity, points)) == json.dumps(_previous_downsample(equity, points))


@pytest.mark.parametrize("length, points", [(0, 600), (1, 600), (3, 600), (600, 600), (30_000, 5_000), (25_152, 600)])
def test_the_stored_columns_give_back_the_downsamplers_pairs(length, points):
    rng = np.random.default_rng(length)
    values = 10_000 * np.cumprod(1 + rng.normal(0, 0.002, length))
    times = pd.date_range("2023-12-29", periods=length, freq="15min", tz="UTC")
    if length > 100:  # weekend-like gaps: the steps are not all equal
        times = times[times.day_of_week < 5]
        values = values[: len(times)]
    equity = pd.Series(values, index=times)
    stored = D.equity_columns(equity, points)
    assert isinstance(stored, dict) and set(stored) == {"start", "steps", "equity"}
    # what the database keeps is JSON: the round trip through it gives the same pairs
    times_back, equity_back = D.curve_points(json.loads(json.dumps(stored)))
    pairs = downsample_equity(equity, points)
    assert [list(p) for p in zip(times_back, equity_back)] == pairs
    assert all(isinstance(s, int) for s in stored["steps"])


def test_a_curve_off_whole_seconds_is_stored_as_pairs_and_read_back_the_same():
    equity = pd.Series(
        [100.0, 101.0, 102.5],
        index=pd.DatetimeIndex(["2024-01-01 00:00:00.5", "2024-01-01 00:00:01", "2024-01-01 00:00:02"], tz="UTC"),
    )
    stored = D.equity_columns(equity)
    assert stored == downsample_equity(equity)
    assert D.curve_points(stored) == ([p[0] for p in stored], [p[1] for p in stored])
    assert D.curve_points(None) == D.curve_points([]) == ([], [])
