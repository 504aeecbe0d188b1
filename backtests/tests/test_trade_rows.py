"""The engine's trade frame becomes Trade model fields column by column: prices on the
instrument's decimals (as Python's round), NaN in an optional figure as null, times as UTC
datetimes, a missing market as ''."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from backtests.services import TRADE_FLOATS, _trade_rows


def _frame(**overrides) -> pd.DataFrame:
    times = pd.DatetimeIndex(["2024-01-02 10:00", "2024-01-03 11:15"], tz="UTC")
    columns = {name: [1.0, 2.0] for name in TRADE_FLOATS}
    columns.update(
        entry_price=[100.01000000000001, 1.234565],
        exit_price=[101.5, np.nan],
        r_multiple=[np.nan, 1.5],
        initial_stop=[99.12345678, np.nan],
        direction=["Long", "Short"],
        exit_reason=["stop_loss", "take_profit"],
        bars_held=np.array([3, 7], dtype=np.int64),
        entry_time=times,
        exit_time=times + pd.Timedelta(hours=1),
    )
    columns.update(overrides)
    return pd.DataFrame(columns)


def test_prices_rounded_optional_nan_null_times_utc():
    first, second = _trade_rows(_frame(), decimals=5)
    assert first["entry_price"] == 100.01 and second["entry_price"] == round(1.234565, 5)
    assert first["exit_price"] == 101.5 and np.isnan(second["exit_price"])  # a required price stays NaN
    assert first["r_multiple"] is None and second["r_multiple"] == 1.5
    assert first["initial_stop"] == 99.12346 and second["initial_stop"] is None
    assert first["entry_time"] == dt.datetime(2024, 1, 2, 10, 0, tzinfo=dt.UTC)
    assert second["exit_time"] == dt.datetime(2024, 1, 3, 12, 15, tzinfo=dt.UTC)
    assert type(first["bars_held"]) is int and second["bars_held"] == 7
    assert first["market"] == "" and first["direction"] == "Long" and second["exit_reason"] == "take_profit"
    assert all(type(first[name]) is float for name in TRADE_FLOATS)


def test_without_decimals_prices_are_kept_and_markets_carried():
    rows = _trade_rows(_frame(market=["EURUSD", None]))
    assert rows[0]["entry_price"] == 100.01000000000001 and rows[0]["initial_stop"] == 99.12345678
    assert [r["market"] for r in rows] == ["EURUSD", ""]


def test_no_trades_no_rows():
    assert _trade_rows(_frame().iloc[:0], decimals=2) == []
