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
