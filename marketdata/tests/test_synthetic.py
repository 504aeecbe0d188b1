"""Synthetic prices a trader believes: each market at its real order of magnitude, with its
asset class's volatility, staying there over years."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata.providers.synthetic import BASE_PRICES, SyntheticProvider

DAY = pd.Timedelta(days=1)


def daily(symbol: str, start: str = "2024-11-01", end: str = "2025-11-01") -> pd.DataFrame:
    return SyntheticProvider().download(symbol, "1d", pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"))


@pytest.mark.parametrize(
    ("symbol", "low", "high"),
    [
        ("EURUSD", 0.9, 1.25),
        ("GBPUSD", 1.1, 1.45),
        ("USDJPY", 125, 180),
        ("XAUUSD", 1400, 2700),
        ("BTCUSD", 20_000, 150_000),
        ("US30", 28_000, 52_000),
    ],
)
def test_a_market_stays_in_its_real_range_over_thirty_years(symbol, low, high):
    _, log_close, _ = SyntheticProvider().daily_path(symbol)  # 2015 to 2045, what every bar derives from
    closes = np.exp(log_close)
    assert low < closes.min() and closes.max() < high, (closes.min(), closes.max())


def test_fx_moves_like_fx_and_crypto_like_crypto():
    def annual_vol(symbol):
        returns = np.log(daily(symbol, "2020-01-01", "2026-01-01")["close"]).diff().dropna()
        periods = 365 if symbol == "BTCUSD" else 261
        return float(returns.std() * np.sqrt(periods))

    assert 0.04 < annual_vol("EURUSD") < 0.12  # EURUSD's real one is ~7 %
    assert 0.08 < annual_vol("XAUUSD") < 0.25
    assert 0.35 < annual_vol("BTCUSD") < 0.9
    eurusd = daily("EURUSD")["close"]
    assert abs(eurusd.iloc[-1] / eurusd.iloc[0] - 1) < 0.15  # no −26 % year for a major pair


def test_every_known_market_starts_near_its_base_price():
    for symbol, base in BASE_PRICES.items():
        first = daily(symbol, "2015-01-01", "2015-01-10")["open"].iloc[0]
        assert abs(first / base - 1) < 0.05, (symbol, first)


def test_the_same_bar_is_the_same_whatever_range_is_asked_for():
    long = daily("EURUSD", "2024-01-01", "2025-01-01")
    short = daily("EURUSD", "2024-06-03", "2024-06-10")
    pd.testing.assert_frame_equal(long.loc[short.index], short)
