"""compute_all takes the equity curve's statistics from metrics._curve_stats (scratch arrays
and one compiled walk instead of the plain functions' temporaries) and the exposure from a walk
over the trades; these must give exactly the numbers of the plain
functions they stand in for (max_drawdown_pct, drawdown_durations, sharpe_ratio, ...), bit for
bit, on every kind of curve: rising, falling, flat, recovering, at a new peak on the last bar,
minute to daily bars, with and without the market's calendar. Pure: no Django."""

import numpy as np
import pandas as pd
import pytest

from backtests.engine import metrics as M


def _reference(monkeypatch, *args, **kwargs):
    """compute_all by the plain functions alone."""
    with monkeypatch.context() as patch:
        patch.setattr(M, "_curve_stats", lambda eq, times, per_year: None)
        patch.setattr(M, "_exposure", M.exposure_pct)
        return M.compute_all(*args, **kwargs)


def _curve(rng, n: int, freq: str, scale: float, flat_share: float) -> pd.Series:
    steps = rng.standard_normal(n) * scale
    steps[rng.random(n) < flat_share] = 0.0
    index = pd.date_range("2024-01-05 13:00", periods=n, freq=freq, tz="UTC", name="timestamp")
    return pd.Series(10_000.0 * np.exp(np.cumsum(steps)), index=index, name="equity")


def _trades(rng, n: int) -> pd.DataFrame:
    entries = np.sort(rng.integers(0, n - 1, 6))
    exits = np.minimum(entries + rng.integers(0, 40, 6), n - 1)
    return pd.DataFrame({"pnl": rng.standard_normal(6) * 10, "entry_bar": entries, "exit_bar": exits})


@pytest.mark.parametrize("seed", range(40))
def test_the_curve_stats_give_the_plain_functions_numbers_exactly(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([2, 3, 9, 129, 300, 1_000, 5_000, 20_011]))
    freq = str(rng.choice(["min", "15min", "h", "D"]))
    equity = _curve(rng, n, freq, float(rng.choice([0.0, 1e-4, 1e-2])), float(rng.choice([0.0, 0.5])))
    if seed % 4 == 1:
        equity.iloc[-1] = equity.max()  # a new peak on the last bar
    trades = _trades(rng, n) if n > 2 else pd.DataFrame({"pnl": []})
    for annualisation in (None, M.calendar_annualisation("fx", 3_600)):
        fast = M.compute_all(trades, equity, 10_000.0, annualisation=annualisation)
        plain = _reference(monkeypatch, trades, equity, 10_000.0, annualisation=annualisation)
        assert fast == plain


def test_a_curve_the_fast_path_does_not_take_goes_the_plain_way(monkeypatch):
    """A wiped-out account (zeros) and an unordered index are the plain functions' cases."""
    equity = pd.Series([10_000.0, 9_000.0, 0.0, 0.0], index=pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC"))
    assert M._curve_stats(equity.to_numpy(), equity.index.asi8, 1.0) is None
    assert M.compute_all(pd.DataFrame({"pnl": []}), equity, 10_000.0) == _reference(
        monkeypatch, pd.DataFrame({"pnl": []}), equity, 10_000.0
    )
    backwards = pd.Series([1.0, 2.0, 3.0], index=pd.DatetimeIndex([3, 2, 1]).tz_localize("UTC"))
    assert M._curve_stats(backwards.to_numpy(), backwards.index.asi8, 1.0) is None


def _dated(values, freq: str = "min") -> pd.Series:
    index = pd.date_range("2024-03-01 22:00", periods=len(values), freq=freq, tz="UTC", name="timestamp")
    return pd.Series(np.asarray(values, dtype=np.float64), index=index, name="equity")


@pytest.mark.parametrize("n", [7, 8, 127, 128, 129, 136, 1_025, 8_193, 100_003, 1_000_000])
def test_long_and_block_edge_curves_give_the_plain_numbers_exactly(monkeypatch, n):
    """NumPy sums in blocks of 128 and halves: lengths at the blocks' edges, and a million bars
    of minutes with flat stretches (a position held half of the time)."""
    rng = np.random.default_rng(n)
    steps = rng.standard_normal(n) * 1e-4
    steps[(np.arange(n) // 97) % 2 == 0] = 0.0
    equity = _dated(10_000.0 * np.exp(np.cumsum(steps)))
    for trades in (pd.DataFrame({"pnl": []}), _trades(rng, n)):
        for annualisation in (None, M.calendar_annualisation("fx", 60)):
            fast = M.compute_all(trades, equity, 10_000.0, close=equity.to_numpy(), annualisation=annualisation)
            assert fast == _reference(
                monkeypatch, trades, equity, 10_000.0, close=equity.to_numpy(), annualisation=annualisation
            )


@pytest.mark.parametrize(
    "values",
    [
        [10_000.0] * 50,  # flat: no fall, no variance
        [10_000.0, 9_000.0, 10_000.0, 9_000.0, 10_000.0, 9_000.0],  # equal falls: the first is the largest
        [10_000.0, 9_000.0, 10_500.0, 9_450.0, 9_450.0, 10_500.0, 11_000.0],  # recovered at the peak itself
        [10_000.0, 9_000.0, 9_500.0, 8_000.0, 8_000.0],  # never recovered
        [10_000.0, 11_000.0, 12_000.0, 13_000.0],  # only rises
        [1e-300, 1e300, 1e-300, 1e300],  # returns overflow to infinity
        [10_000.0, 10_000.0 * (1 + 1e-16), 10_000.0],  # falls smaller than a rounding step
    ],
)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_edge_curves_give_the_plain_numbers_exactly(monkeypatch, values):
    for freq in ("min", "D"):
        equity = _dated(values, freq)
        for trades in (pd.DataFrame({"pnl": []}), pd.DataFrame({"pnl": [5.0], "entry_bar": [0], "exit_bar": [1]})):
            assert M.compute_all(trades, equity, 10_000.0) == _reference(monkeypatch, trades, equity, 10_000.0)


def test_a_run_with_a_warm_up_gives_the_plain_numbers_exactly(monkeypatch):
    """The measured window after a warm-up is a slice of the curve (not at the start of its memory)."""
    from backtests.engine import run_backtest
    from backtests.engine.run import _warm_frame, _warm_spec

    data = _warm_frame(3_000)
    trade_from = data.index[700]
    fast = run_backtest(data, _warm_spec(), trade_from=trade_from)
    with monkeypatch.context() as patch:
        patch.setattr(M, "_curve_stats", lambda eq, times, per_year: None)
        patch.setattr(M, "_exposure", M.exposure_pct)
        plain = run_backtest(data, _warm_spec(), trade_from=trade_from)
    assert len(fast.trades) > 1
    assert fast.metrics == plain.metrics
