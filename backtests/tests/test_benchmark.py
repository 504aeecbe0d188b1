"""The strategy against a benchmark (backtests/engine/benchmark.py): golden values on the shipped
data (backtests/tests/data/benchmark_golden.csv: 181 daily equity values and benchmark closes,
2024-01-01 to 2024-06-29, 23:00 UTC), each re-derived here by an independent calculation, and
the edge cases docs/metrics.md writes down. Pure: no Django."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests.engine import benchmark as B
from backtests.engine import metrics as M

DATA = Path(__file__).parent / "data"
DAYS = 365.25  # the golden curve is a 24/7 market
TIGHT = {"rel": 1e-12, "abs": 1e-12}

GOLDEN = {
    "benchmark": "GOLD buy and hold",
    "benchmark_return_pct": 5.817000000000006,
    "alpha_pct": 7.840767440859421,
    "beta": 0.4843572766672616,
    "correlation": 0.6707025672288515,
    "tracking_error_pct": 15.455530199954802,
    "information_ratio": 0.05270861422447705,
    "up_capture_pct": 47.68601109345711,
    "down_capture_pct": 42.276333814195574,
    "benchmark_days": 180,
}


def golden() -> tuple[pd.Series, pd.Series]:
    frame = pd.read_csv(DATA / "benchmark_golden.csv")
    index = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
    return (
        pd.Series(frame["equity"].to_numpy(), index=index),
        pd.Series(frame["benchmark_close"].to_numpy(), index=index),
    )


@pytest.fixture(scope="module")
def result():
    equity, closes = golden()
    return B.compare(equity, closes, days_per_year=DAYS, name="GOLD buy and hold")


def test_golden_values(result):
    assert result.metrics == pytest.approx(GOLDEN, rel=1e-9)


def test_golden_values_by_hand(result):
    equity, closes = golden()
    d = equity.to_numpy()[1:] / equity.to_numpy()[:-1] - 1
    b = closes.to_numpy()[1:] / closes.to_numpy()[:-1] - 1
    n = len(d)
    mean_d, mean_b = sum(d) / n, sum(b) / n
    cov = sum((x - mean_d) * (y - mean_b) for x, y in zip(d, b)) / (n - 1)
    var_b = sum((y - mean_b) ** 2 for y in b) / (n - 1)
    var_d = sum((x - mean_d) ** 2 for x in d) / (n - 1)
    beta = cov / var_b
    excess = [x - y for x, y in zip(d, b)]
    mean_e = sum(excess) / n
    sd_e = math.sqrt(sum((e - mean_e) ** 2 for e in excess) / (n - 1))
    up = [i for i in range(n) if b[i] > 0]
    down = [i for i in range(n) if b[i] < 0]
    m = result.metrics
    assert m["beta"] == pytest.approx(beta, **TIGHT)
    assert m["alpha_pct"] == pytest.approx(100 * DAYS * (mean_d - beta * mean_b), **TIGHT)
    assert m["correlation"] == pytest.approx(cov / math.sqrt(var_b * var_d), **TIGHT)
    assert m["tracking_error_pct"] == pytest.approx(100 * sd_e * math.sqrt(DAYS), **TIGHT)
    assert m["information_ratio"] == pytest.approx(mean_e / sd_e * math.sqrt(DAYS), **TIGHT)
    assert m["up_capture_pct"] == pytest.approx(
        100 * (sum(d[i] for i in up) / len(up)) / (sum(b[i] for i in up) / len(up)), **TIGHT
    )
    assert m["down_capture_pct"] == pytest.approx(
        100 * (sum(d[i] for i in down) / len(down)) / (sum(b[i] for i in down) / len(down)), **TIGHT
    )
    assert m["benchmark_return_pct"] == pytest.approx(100 * (closes.iloc[-1] / closes.iloc[0] - 1), **TIGHT)


def test_rolling_sharpe_and_beta_by_hand(result):
    """Each point: the daily returns of the 90 calendar days (t − 90 d, t], from the first day a full
    window lies behind the first bar."""
    equity, closes = golden()
    rolling = result.rolling
    assert rolling["window_days"] == 90
    times = pd.DatetimeIndex(rolling["time"])
    assert times[0] == equity.index[0] + pd.Timedelta(days=90)
    assert times[-1] == equity.index[-1] and len(times) == 91
    d = equity.pct_change().iloc[1:]
    b = closes.pct_change().iloc[1:]
    for k in (0, 37, 90):
        t = times[k]
        inside = (d.index > t - pd.Timedelta(days=90)) & (d.index <= t)
        x, y = d[inside].to_numpy(), b[inside].to_numpy()
        assert len(x) == 90
        assert rolling["sharpe"][k] == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(DAYS), rel=1e-9)
        assert rolling["beta"][k] == pytest.approx(np.cov(x, y)[0, 1] / y.var(ddof=1), rel=1e-9)


def test_the_benchmark_is_read_as_of_each_bar_never_ahead():
    closes = pd.Series(
        [100.0, 110.0, 121.0], index=pd.DatetimeIndex(["2024-01-02", "2024-01-04", "2024-01-06"], tz="UTC")
    )
    at = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-07"], tz="UTC")
    assert B.closes_at(closes, at).tolist()[1:] == [100.0, 100.0, 110.0, 121.0]
    assert math.isnan(B.closes_at(closes, at)[0]), "no price before the first close"


def test_days_without_a_benchmark_price_are_left_out():
    index = pd.date_range("2024-01-01 23:00", periods=6, freq="D", tz="UTC")
    equity = pd.Series([100.0, 101, 99, 102, 103, 101], index=index)
    closes = pd.Series([50.0, 51, 52, 50], index=index[2:])
    out = B.compare(equity, closes, days_per_year=DAYS)
    assert out.metrics["benchmark_days"] == 3
    assert out.metrics["benchmark_return_pct"] == pytest.approx(0.0)


def test_intraday_bars_compare_on_each_days_last_bar():
    index = pd.date_range("2024-01-01", periods=24 * 5, freq="h", tz="UTC")
    rng = np.random.default_rng(3)
    equity = pd.Series(10_000 * np.cumprod(1 + rng.normal(0, 0.001, len(index))), index=index)
    closes = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.002, len(index))), index=index)
    out = B.compare(equity, closes, days_per_year=DAYS)
    day_equity = equity.groupby(equity.index.floor("D")).last()
    day_closes = closes.groupby(closes.index.floor("D")).last()
    d, b = day_equity.pct_change().dropna().to_numpy(), day_closes.pct_change().dropna().to_numpy()
    assert out.metrics["benchmark_days"] == 4
    assert out.metrics["beta"] == pytest.approx(np.cov(d, b)[0, 1] / b.var(ddof=1), rel=1e-9)


def test_edge_cases():
    index = pd.date_range("2024-01-01 23:00", periods=5, freq="D", tz="UTC")
    moving = pd.Series([100.0, 102, 101, 104, 103], index=index)
    flat = pd.Series(50.0, index=index)
    # a benchmark that never moves: no beta, alpha, correlation or capture; tracking error is the strategy's
    out = B.compare(moving, flat, days_per_year=DAYS).metrics
    assert out["beta"] is None and out["alpha_pct"] is None and out["correlation"] is None
    assert out["up_capture_pct"] is None and out["down_capture_pct"] is None
    d = moving.pct_change().dropna().to_numpy()
    assert out["tracking_error_pct"] == pytest.approx(100 * d.std(ddof=1) * math.sqrt(DAYS))
    # the strategy is its own benchmark: beta 1, alpha 0, correlation 1, no tracking error, no IR
    same = B.compare(moving * 100, moving, days_per_year=DAYS).metrics
    assert same["beta"] == pytest.approx(1.0) and same["alpha_pct"] == pytest.approx(0.0, abs=1e-12)
    assert same["correlation"] == pytest.approx(1.0)
    assert same["up_capture_pct"] == pytest.approx(100.0) and same["down_capture_pct"] == pytest.approx(100.0)
    assert same["tracking_error_pct"] == pytest.approx(0.0, abs=1e-12) and same["information_ratio"] is None
    # under two daily returns nothing is defined; an unknown calendar leaves the annualised ones out
    short = B.compare(moving.iloc[:2], moving.iloc[:2], days_per_year=DAYS).metrics
    assert all(short[k] is None for k in ("beta", "correlation", "tracking_error_pct", "information_ratio"))
    unknown = B.compare(moving, moving * 2 + np.arange(5.0), days_per_year=None).metrics
    assert unknown["alpha_pct"] is None and unknown["tracking_error_pct"] is None
    assert unknown["beta"] is not None
    # a run shorter than the window has no rolling points
    assert B.compare(moving, flat, days_per_year=DAYS).rolling == {
        "window_days": 90,
        "time": [],
        "sharpe": [],
        "beta": [],
    }


def test_a_wiped_out_account_keeps_its_figures_finite():
    index = pd.date_range("2024-01-01 23:00", periods=6, freq="D", tz="UTC")
    equity = pd.Series([100.0, 90, 40, 0, 0, 0], index=index)
    closes = pd.Series([10.0, 11, 10, 12, 11, 13], index=index)
    out = B.compare(equity, closes, days_per_year=DAYS).metrics
    assert out["benchmark_days"] == 3, "returns after the equity reached 0 are not finite and are left out"
    assert all(v is None or math.isfinite(v) for v in out.values() if not isinstance(v, str))


def test_it_is_what_the_run_metrics_call_daily_returns():
    """Same day closes as sharpe_daily: the rolling Sharpe over the whole span is that Sharpe."""
    equity, closes = golden()
    metrics = M.compute_all(
        pd.DataFrame({"pnl": []}), equity, 10_000.0, annualisation=M.calendar_annualisation("crypto", 86_400)
    )
    _, d, _ = B.daily_return_pairs(equity, closes.to_numpy())
    assert M.sharpe_ratio(d, DAYS) == pytest.approx(metrics["sharpe_daily"], rel=1e-12)


def _previous_closes_at(closes: pd.Series, times: pd.DatetimeIndex) -> np.ndarray:
    """closes_at before its compiled walk (a binary search per time): the reference."""
    closes = closes.dropna()
    if closes.empty or not len(times):
        return np.full(len(times), np.nan)
    positions = closes.index.searchsorted(times, side="right") - 1
    values = closes.to_numpy(np.float64)[np.clip(positions, 0, None)]
    return np.where(positions >= 0, values, np.nan)


def test_closes_as_of_each_bar_are_those_of_the_previous_search():
    """The compiled walk (both in time order, same unit, zoned) and pandas' search it falls back
    to (units or zones differ, times out of order, missing times) give what the binary search
    gave: bars on and off the closes' times, before the first and after the last, repeated
    times, missing closes, another time zone; and compare's stored figures are the same JSON."""
    rng = np.random.default_rng(19)
    bars = pd.date_range("2024-01-01", periods=5_000, freq="15min", tz="UTC")
    closes = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.002, len(bars))), index=bars)
    gappy = closes.drop(closes.index[rng.random(len(bars)) < 0.3]).copy()
    gappy.iloc[rng.integers(0, len(gappy), 50)] = np.nan
    repeated = pd.Series(closes.to_numpy()[:200], index=bars[np.sort(rng.integers(0, 400, 200))])
    shifted = bars[300:4_500] + pd.Timedelta(minutes=7)
    cases = [
        (closes, bars),
        (closes, bars[1_000:3_000]),
        (gappy, bars),
        (gappy, shifted),
        (closes.iloc[2_000:], bars),
        (repeated, bars[:600]),
        (closes, shifted.tz_convert("Europe/London")),
        (closes, bars.as_unit("ns")),
        (closes, bars[rng.permutation(len(bars))]),
        (closes, pd.DatetimeIndex([bars[3], pd.NaT, bars[9]])),
        (closes.iloc[:0], bars),
        (closes, bars[:0]),
    ]
    for series, times in cases:
        assert np.array_equal(B.closes_at(series, times), _previous_closes_at(series, times), equal_nan=True)
    equity = pd.Series(10_000 * np.cumprod(1 + rng.normal(0, 0.001, len(bars))), index=bars)
    for series in (closes, gappy, closes.iloc[2_000:]):
        faster = B.compare(equity, series, days_per_year=DAYS, name="x")
        with pytest.MonkeyPatch.context() as patched:
            patched.setattr(B, "closes_at", _previous_closes_at)
            previous = B.compare(equity, series, days_per_year=DAYS, name="x")
        assert json.dumps([faster.metrics, faster.rolling]) == json.dumps([previous.metrics, previous.rolling])


def _previous_rolling_series(day_times_ns, strategy, benchmark, days_per_year, window_days=90, *, start_ns=None):
    """rolling_series before its days were built without parsing and its quotients taken on arrays."""
    out = {"window_days": window_days, "time": [], "sharpe": [], "beta": []}
    if len(strategy) < 2:
        return out
    index = pd.DatetimeIndex(pd.to_datetime(day_times_ns, utc=True))
    d, b = pd.Series(strategy, index=index), pd.Series(benchmark, index=index)
    window = f"{window_days}D"
    mean, std = d.rolling(window).mean(), d.rolling(window).std(ddof=1)
    var_b = b.rolling(window).var(ddof=1)
    cov = d.rolling(window).cov(b, ddof=1)
    start = pd.Timestamp(start_ns, tz="UTC") if start_ns is not None else index[0] - pd.Timedelta(days=1)
    full = index >= start + pd.Timedelta(days=window_days)
    if not full.any():
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = (mean / std).to_numpy() * (math.sqrt(days_per_year) if days_per_year else math.nan)
        betas = (cov / var_b).to_numpy()
    sharpe = np.where(std.to_numpy() > 1e-15, sharpe, np.nan)
    betas = np.where(var_b.to_numpy() > 1e-30, betas, np.nan)
    out["time"] = [t.isoformat() for t in index[full]]
    out["sharpe"] = [None if not math.isfinite(v) else round(float(v), 10) for v in sharpe[full]]
    out["beta"] = [None if not math.isfinite(v) else round(float(v), 10) for v in betas[full]]
    return out


def test_the_rolling_series_are_those_of_the_previous_code():
    """Rolling Sharpe and beta are the same JSON text as the previous code's: years of days with
    gaps, flat stretches (null points), a missing return, a run shorter than the window, no
    annualisation, the default start."""
    rng = np.random.default_rng(19)
    for case in range(12):
        n = (1, 2, 60, 261, 700)[case % 5]
        days = np.sort(rng.choice(np.arange(19_000, 21_000), n, replace=False)).astype(np.int64)
        times = (days * 86_400 + 23 * 3_600) * 1_000_000_000
        d, b = rng.normal(0, 0.01, n), rng.normal(0, 0.01, n)
        if case % 3 == 1:
            d[: n // 2] = 0.001  # no variation in the first windows
            b[n // 3 : n // 2] = 0.0
        if case % 4 == 2 and n > 10:
            d[7] = np.nan
        per_year = None if case == 5 else 252.0
        start = None if case % 2 else int(times[0]) - 86_400 * 10**9
        faster = B.rolling_series(times, d, b, per_year, start_ns=start)
        assert json.dumps(faster) == json.dumps(_previous_rolling_series(times, d, b, per_year, start_ns=start))
