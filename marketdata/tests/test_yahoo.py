"""The yfinance provider against recorded Yahoo HTTP exchanges (yfinance itself runs; only
the network answers from recordings)."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata.manager import DataUnavailable
from marketdata.providers import DataRangeUnavailable, ProviderUnavailable, SymbolNotFound
from marketdata.providers.yahoo import SYMBOL_MAP, check_range, yahoo_ticker

from .conftest import NOW

UTC = "UTC"


def ts(text):
    return pd.Timestamp(text, tz=UTC)


def test_product_markets_map_to_yahoo_tickers():
    assert yahoo_ticker("xauusd") == "GC=F" and yahoo_ticker("EURUSD") == "EURUSD=X"
    assert yahoo_ticker("BTCUSD") == "BTC-USD" and yahoo_ticker("NAS100") == "^NDX"
    assert yahoo_ticker("GER40") == "^GDAXI" and yahoo_ticker("AAPL") == "AAPL"
    for market in (
        "XAUUSD",
        "XAGUSD",
        "EURUSD",
        "GBPUSD",
        "USDJPY",
        "BTCUSD",
        "ETHUSD",
        "US30",
        "NAS100",
        "SPX500",
        "GER40",
    ):
        assert market in SYMBOL_MAP


@pytest.mark.parametrize(
    "timeframe, days_back, ok",
    [
        ("1m", 29, True),
        ("1m", 32, False),
        ("5m", 59, True),
        ("15m", 61, True),
        ("15m", 62, False),
        ("1h", 729, True),
        ("4h", 800, False),
        ("1d", 20000, True),
    ],
)
def test_interval_limits_are_checked_before_any_call(timeframe, days_back, ok):
    start = NOW - pd.Timedelta(days=days_back)
    if ok:
        check_range(timeframe, start, NOW, now=NOW)
    else:
        with pytest.raises(DataRangeUnavailable) as err:
            check_range(timeframe, start, NOW, now=NOW)
        assert "CSV" in err.value.message and err.value.details["max_days_back"] in (30, 60, 730)


def test_range_error_says_what_is_possible():
    with pytest.raises(DataRangeUnavailable) as err:
        check_range("15m", ts("2026-01-01"), NOW, now=NOW)
    assert err.value.message == (
        "Yahoo Finance serves 15m bars for the last 60 days only (from 2026-09-22 00:00 UTC); the requested "
        "period starts 2026-01-01. Shorten the period to at most 60 days, use a larger timeframe (1h reaches back "
        "to 2026-01-01), or upload the data as a CSV dataset (POST /api/v1/datasets)."
    )
    assert err.value.details["larger_timeframes"] == ["1h", "4h", "1d"]


def test_hourly_fx_bars_are_parsed_in_utc(yahoo):
    df = yahoo.provider.download("EURUSD", "1h", ts("2026-11-09"), ts("2026-11-14"))
    assert df.index[0] == ts("2026-11-09 00:00") and df.index[-1] == ts("2026-11-13 21:00")
    assert str(df.index.tz) == "UTC" and list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert len(df) == 4 * 24 + 22 - 1  # one hour is a null row in the recording, dropped by yfinance
    assert df["close"].iloc[0] == pytest.approx(1.04408, abs=0.02) and (df["volume"] == 0).all()
    [call] = yahoo.chart_calls
    assert call["ticker"] == "EURUSD=X" and call["interval"] == "1h"
    assert (int(call["period1"]), int(call["period2"])) == (
        int(ts("2026-11-09").timestamp()),
        int(ts("2026-11-14").timestamp()),
    )


def test_one_minute_requests_are_split_into_seven_day_chunks(yahoo):
    df = yahoo.provider.download("BTCUSD", "1m", ts("2026-11-12 12:00"), ts("2026-11-21"))
    spans = [(int(c["period2"]) - int(c["period1"])) / 86400 for c in yahoo.chart_calls]
    assert spans == [7.0, 1.5] and all(c["interval"] == "1m" for c in yahoo.chart_calls)
    assert len(df) == int(8.5 * 1440) and not df.index.duplicated().any()


def test_four_hour_bars_are_built_from_hourly(yahoo):
    hourly = yahoo.provider.download("EURUSD", "1h", ts("2026-11-16"), ts("2026-11-17"))
    four = yahoo.provider.download("EURUSD", "4h", ts("2026-11-16"), ts("2026-11-17"))
    assert yahoo.chart_calls[-1]["interval"] == "1h" and len(four) == 6
    first = hourly.iloc[:4]
    assert four["open"].iloc[0] == first["open"].iloc[0] and four["close"].iloc[0] == first["close"].iloc[-1]
    assert four["high"].iloc[0] == first["high"].max()


def test_daily_index_bars_are_labelled_by_trading_date(yahoo):
    df = yahoo.provider.download("SPX500", "1d", ts("2026-11-01"), ts("2026-11-21"))
    assert all(t.hour == 0 for t in df.index) and df.index[-1] == ts("2026-11-20")
    assert ts("2026-11-26") not in df.index  # Thanksgiving is not in the recording anyway


def test_a_range_before_the_limit_starts_at_the_limit_and_says_so(yahoo):
    df = yahoo.provider.download("XAUUSD", "15m", NOW - pd.Timedelta(days=60, hours=12), NOW)
    assert "only; the window starts" in df.attrs["note"]
    assert pd.Timestamp(df.attrs["covered_start"]) > NOW - pd.Timedelta(days=60)


def test_unknown_ticker_is_symbol_not_found(yahoo):
    with pytest.raises(SymbolNotFound, match="does not know 'NOPE'"):
        yahoo.provider.download("NOPE", "1h", ts("2026-11-09"), ts("2026-11-14"))


@pytest.mark.parametrize(
    "switch, reason", [("down", "unreachable"), ("status", "down"), ("rate_limited", "rate-limited")]
)
def test_outages_are_transient_errors(yahoo, switch, reason):
    setattr(yahoo, switch, 503 if switch == "status" else True)
    with pytest.raises(ProviderUnavailable, match=reason):
        yahoo.provider.download("EURUSD", "1h", ts("2026-11-09"), ts("2026-11-14"))


def test_empty_period_is_an_empty_frame(yahoo):
    assert yahoo.provider.download("EURUSD", "1h", ts("2026-11-14 23:00"), ts("2026-11-15 20:00")).empty


# ---- through the manager --------------------------------------------------------------------


def test_manager_caches_yahoo_and_downloads_only_new_bars(yahoo_manager, yahoo, clock):
    clock.now = ts("2026-11-18 12:00")
    yahoo.provider.now = clock
    first = yahoo_manager.get_data("EURUSD", "1h", ts("2026-11-10"), ts("2026-11-18 12:00"), source="yahoo")
    assert first.frame.index[-1] == ts("2026-11-18 11:00") and len(yahoo.chart_calls) == 1
    clock.now = ts("2026-11-19 06:30")
    second = yahoo_manager.get_data("EURUSD", "1h", ts("2026-11-10"), ts("2026-11-19 06:30"), source="yahoo")
    assert second.frame.index[-1] == ts("2026-11-19 05:00")
    assert (int(yahoo.chart_calls[-1]["period1"]), int(yahoo.chart_calls[-1]["period2"])) == (
        int(ts("2026-11-18 12:00").timestamp()),
        int(ts("2026-11-19 06:30").timestamp()),
    )
    assert yahoo_manager.storage.metadata("EURUSD@yahoo", "1h")["source"] == "yahoo"


def test_yahoo_down_serves_stale_cache_with_a_warning(yahoo_manager, yahoo, clock):
    clock.now = ts("2026-11-19 00:00")
    yahoo.provider.now = clock
    yahoo_manager.get_data("XAUUSD", "15m", ts("2026-11-16"), ts("2026-11-19"), source="yahoo")
    yahoo.down = True
    clock.now = ts("2026-11-21 00:00")
    yahoo_manager.l1.clear()
    loaded = yahoo_manager.get_data("XAUUSD", "15m", ts("2026-11-16"), ts("2026-11-21"), source="yahoo")
    assert loaded.from_cache and loaded.frame.index[-1] < ts("2026-11-19")
    assert loaded.warnings[0].startswith(
        "Served cached data from 2026-11-19 00:00 UTC because Yahoo Finance was "
        "unavailable (Yahoo Finance is unreachable: ConnectionError"
    )


def test_yahoo_down_with_nothing_cached_is_data_unavailable(yahoo_manager, yahoo):
    yahoo.down = True
    with pytest.raises(DataUnavailable) as err:
        yahoo_manager.get_data("EURUSD", "1h", ts("2026-11-10"), ts("2026-11-14"), source="yahoo")
    assert err.value.code == "DATA_UNAVAILABLE" and "no cached EURUSD 1h data" in err.value.message


def test_range_limit_through_the_manager_is_data_range_unavailable(yahoo_manager):
    with pytest.raises(DataUnavailable) as err:
        yahoo_manager.get_data("EURUSD", "1m", ts("2026-09-01"), ts("2026-11-20"), source="yahoo")
    assert err.value.code == "DATA_RANGE_UNAVAILABLE"
