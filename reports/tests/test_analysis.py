"""What the charts and data notes are computed from."""

import numpy as np
import pandas as pd
import pytest

from reports import analysis


def series(values, start="2024-01-01", freq="D"):
    index = pd.date_range(start, periods=len(values), freq=freq, tz="UTC")
    return pd.Series(np.asarray(values, dtype=float), index=index)


def test_equity_series_reads_the_stored_pairs():
    equity = analysis.equity_series([["2024-01-01T00:00:00+00:00", 100.0], ["2024-01-02T00:00:00+00:00", 101.5]])
    assert list(equity) == [100.0, 101.5] and str(equity.index.tz) == "UTC"
    assert analysis.equity_series([]).empty


def test_drawdown_is_zero_at_new_highs_and_percent_below_the_peak():
    dd = analysis.drawdown_pct(series([100, 110, 99, 121]))
    assert list(dd.round(6)) == [0.0, 0.0, -10.0, 0.0]


def test_monthly_returns_chain_from_the_initial_capital():
    equity = pd.Series(
        [10_000, 11_000, 11_000, 9_900, 10_890],
        index=pd.to_datetime(["2023-12-15", "2023-12-31", "2024-01-10", "2024-01-31", "2024-02-29"], utc=True),
    )
    table = analysis.monthly_returns(equity, 10_000)
    assert table.loc[2023, 12] == pytest.approx(10.0)
    assert table.loc[2024, 1] == pytest.approx(-10.0)
    assert table.loc[2024, 2] == pytest.approx(10.0)
    assert np.isnan(table.loc[2024, 3])
    assert table.loc[2024, "year"] == pytest.approx(-1.0)  # 0.9 × 1.1


def test_buy_and_hold_uses_the_last_close_at_or_before_each_time():
    close = series([50, 55, 60], freq="h")
    at = pd.DatetimeIndex([close.index[0], close.index[1] + pd.Timedelta(minutes=30), close.index[2]])
    assert list(analysis.buy_and_hold(close, at, 1000)) == [1000, 1100, 1200]


def test_wins_and_losses_are_counted_by_entry_hour_and_weekday():
    trades = pd.DataFrame(
        {
            "entry_time": pd.to_datetime(
                ["2024-01-01 09:15", "2024-01-01 09:45", "2024-01-02 14:00", "2024-01-03 14:00"], utc=True
            ),
            "pnl": [5.0, -2.0, 0.0, 1.0],
        }
    )
    labels, wins, losses = analysis.wins_losses_by(trades, "hour")
    assert len(labels) == 24 and (wins[9], losses[9], wins[14], losses[14]) == (1, 1, 1, 0)
    labels, wins, losses = analysis.wins_losses_by(trades, "weekday")
    assert labels == ["Mon", "Tue", "Wed", "Thu", "Fri"], "no weekend columns when nothing traded then"
    assert list(wins) == [1, 0, 1, 0, 0] and list(losses) == [1, 0, 0, 0, 0]
