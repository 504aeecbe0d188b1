"""Higher timeframes from lower ones: OHLCV aggregation and session-aware days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata.providers.synthetic import SyntheticProvider
from marketdata.resample import can_resample, day_session_for, resample_ohlcv

UTC = "UTC"


@pytest.fixture(scope="module")
def minutes():
    return SyntheticProvider().download(
        "EURUSD", "1m", pd.Timestamp("2024-03-04", tz=UTC), pd.Timestamp("2024-03-16", tz=UTC)
    )


@pytest.mark.parametrize("tf, minutes_per_bar", [("5m", 5), ("15m", 15), ("1h", 60), ("4h", 240)])
def test_intraday_aggregation_is_first_max_min_last_sum(minutes, tf, minutes_per_bar):
    out = resample_ohlcv(minutes, tf)
    for label in out.index[[0, 7, -1]]:
        window = minutes[(minutes.index >= label) & (minutes.index < label + pd.Timedelta(minutes=minutes_per_bar))]
        bar = out.loc[label]
        assert bar["open"] == window["open"].iloc[0] and bar["close"] == window["close"].iloc[-1]
        assert bar["high"] == window["high"].max() and bar["low"] == window["low"].min()
        assert bar["volume"] == pytest.approx(window["volume"].sum())
    assert (out.index.asi8 % (minutes_per_bar * 60 * 10**9) == 0).all()


def test_closed_market_produces_no_bars(minutes):
    hourly = resample_ohlcv(minutes, "1h")
    assert not (hourly.index.day_of_week >= 5).any()  # the weekend stays empty, nothing forward-filled
    assert len(hourly) == 10 * 24


def test_fx_day_ends_at_17_new_york_across_daylight_saving():
    # 2024-03-10: the US moves to daylight time, so the FX day ends 22:00 UTC before, 21:00 UTC after.
    idx = pd.DatetimeIndex(["2024-03-07 21:30", "2024-03-07 22:30", "2024-03-11 20:30", "2024-03-11 21:30"], tz=UTC)
    df = pd.DataFrame(
        {
            "open": [1, 2, 3, 4],
            "high": [1, 2, 3, 4],
            "low": [1, 2, 3, 4],
            "close": [1, 2, 3, 4],
            "volume": [1, 1, 1, 1],
        },
        index=idx,
        dtype=float,
    )
    days = resample_ohlcv(df, "1d", day_session="fx")
    assert [d.strftime("%Y-%m-%d") for d in days.index] == ["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12"]
    utc_days = resample_ohlcv(df, "1d", day_session="utc")
    assert [d.strftime("%Y-%m-%d") for d in utc_days.index] == ["2024-03-07", "2024-03-11"]


def test_index_day_follows_the_exchange_zone():
    idx = pd.DatetimeIndex(["2024-01-08 14:30", "2024-01-08 20:30", "2024-01-09 01:00"], tz=UTC)
    df = pd.DataFrame(
        {
            "open": [1.0, 2.0, 3.0],
            "high": [1.0, 2.0, 3.0],
            "low": [1.0, 2.0, 3.0],
            "close": [1.0, 2.0, 3.0],
            "volume": [1.0, 1.0, 1.0],
        },
        index=idx,
    )
    days = resample_ohlcv(df, "1d", day_session=day_session_for("SPX500"))
    assert list(days["close"]) == [3.0]  # 01:00 UTC is still the 8th in New York
    assert day_session_for("XAUUSD@yahoo") == "fx" and day_session_for("BTCUSD") == "utc"


def test_input_is_not_modified_and_partial_columns_work(minutes):
    before = minutes.copy()
    closes = resample_ohlcv(minutes[["close"]], "1h")
    assert list(closes.columns) == ["close"]
    pd.testing.assert_frame_equal(minutes, before)


def test_only_whole_multiples_can_be_built():
    assert can_resample("1m", "1h") and can_resample("1h", "4h") and can_resample("1h", "1d")
    assert not can_resample("1h", "15m") and not can_resample("4h", "1h")
    assert np.isnan(
        resample_ohlcv(
            pd.DataFrame(
                {"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [np.nan]},
                index=pd.DatetimeIndex(["2024-01-01"], tz=UTC),
            ),
            "1h",
        )["volume"].iloc[0]
    )


def test_market_data_uses_the_pure_layers_timeframe_table():
    from marketdata import timeframes
    from modules.common import resample
    from modules.common import timeframes as pure

    assert timeframes.TIMEFRAME_SECONDS is pure.TIMEFRAME_SECONDS is resample.TIMEFRAME_SECONDS
    assert timeframes.timeframe_seconds is pure.timeframe_seconds
    assert timeframes.pandas_freq("4h") == "14400s"
    with pytest.raises(ValueError, match="unknown timeframe"):
        timeframes.timeframe_seconds("2h")
