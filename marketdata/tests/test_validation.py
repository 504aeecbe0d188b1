"""Row checks, repair policy, gaps against market calendars, spikes and the quality report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata.providers.synthetic import SyntheticProvider
from marketdata.validation import (
    DataValidationError,
    expected_slots,
    find_gaps,
    find_problems,
    find_spikes,
    market_calendar,
    quality_report,
    quality_summary,
    validate_ohlcv,
)

UTC = "UTC"


def frame(rows, start="2024-01-02 00:00", freq="1h"):
    idx = pd.date_range(start, periods=len(rows), freq=freq, tz=UTC)
    return pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], index=idx)


GOOD = [1.0, 1.2, 0.9, 1.1, 10.0]


@pytest.mark.parametrize(
    "row, check",
    [
        ([1.0, 1.2, 0.9, np.nan, 10.0], "nan"),
        ([1.0, 1.05, 0.9, 1.1, 10.0], "high_below_open_close"),
        ([1.0, 1.2, 1.05, 1.1, 10.0], "low_above_open_close"),
        ([0.0, 1.2, 0.0, 1.1, 10.0], "non_positive_price"),
        ([1.0, 1.2, 0.9, 1.1, -1.0], "negative_volume"),
    ],
)
def test_each_rule_names_the_row(row, check):
    problems = find_problems(frame([GOOD, row, GOOD]))
    assert [(p["row"], p["check"]) for p in problems] == [(1, check)]
    assert problems[0]["timestamp"] == "2024-01-02T01:00:00+00:00"


def test_order_and_duplicates_are_found_then_repaired():
    df = frame([GOOD, GOOD, GOOD, GOOD])
    df.index = pd.DatetimeIndex([df.index[0], df.index[2], df.index[1], df.index[2]])
    df.iloc[3, 3] = 1.15  # the later duplicate carries a different close
    checks = [(p["row"], p["check"]) for p in find_problems(df)]
    assert checks == [(2, "unsorted"), (3, "duplicate")]
    with pytest.raises(DataValidationError) as err:
        validate_ohlcv(df, policy="reject")
    assert len(err.value.problems) == 2
    result = validate_ohlcv(df, policy="repair")
    assert result.frame.index.is_monotonic_increasing and len(result.frame) == 3
    assert result.frame["close"].iloc[-1] == 1.15  # the last row of a timestamp wins
    assert any("sorted" in r for r in result.repaired) and any("duplicate" in r for r in result.repaired)


def test_repair_leaves_out_unrepairable_rows_and_reports_them():
    df = frame([GOOD, [1.0, 1.05, 0.9, 1.1, 10.0], [np.nan] * 5, GOOD])
    result = validate_ohlcv(df, policy="repair")
    assert len(result.frame) == 2 and result.dropped_rows == 2
    assert "left out 2 bar(s)" in result.repaired[0]


def test_clean_data_passes_reject_unchanged():
    df = frame([GOOD] * 5)
    assert validate_ohlcv(df, policy="reject").frame is df


def test_calendars_by_market():
    assert market_calendar("EURUSD") == "fx" and market_calendar("XAUUSD@yahoo") == "fx"
    assert market_calendar("BTCUSD") == "crypto" and market_calendar("SPX500") == "index"


def test_fx_weekend_is_not_a_gap_but_a_weekday_hole_is():
    week = pd.date_range("2024-01-08", "2024-01-15", freq="1h", inclusive="left", tz=UTC)  # Mon..Sun
    trading = week[week.day_of_week < 5]
    expected, gaps = find_gaps(trading, "EURUSD", "1h", week[0], week[-1] + pd.Timedelta(hours=1))
    assert gaps == [] and expected == 4 * 24 + 20  # Friday after 20:00 UTC is optional
    holed = trading.delete(range(30, 33))
    _, gaps = find_gaps(holed, "EURUSD", "1h", week[0], week[-1])
    assert gaps == [{"start": "2024-01-09T06:00:00+00:00", "end": "2024-01-09T09:00:00+00:00", "bars": 3}]


def test_crypto_weekend_is_a_gap():
    week = pd.date_range("2024-01-08", "2024-01-15", freq="1h", inclusive="left", tz=UTC)
    _, gaps = find_gaps(week[week.day_of_week < 5], "BTCUSD", "1h", week[0], week[-1] + pd.Timedelta(hours=1))
    assert gaps == [{"start": "2024-01-13T00:00:00+00:00", "end": "2024-01-15T00:00:00+00:00", "bars": 48}]


def test_index_expects_exchange_hours_across_daylight_saving():
    winter = expected_slots("SPX500", "1h", pd.Timestamp("2024-01-08", tz=UTC), pd.Timestamp("2024-01-09", tz=UTC))
    assert [t.strftime("%H:%M") for t in winter] == ["14:30", "15:30", "16:30", "17:30", "18:30", "19:30", "20:30"]
    summer = expected_slots("SPX500", "1h", pd.Timestamp("2024-07-08", tz=UTC), pd.Timestamp("2024-07-09", tz=UTC))
    assert summer[0].strftime("%H:%M") == "13:30"
    # Yahoo's 09:30-aligned bars and on-the-hour bars both count as present.
    on_the_hour = pd.date_range("2024-01-08 14:00", "2024-01-08 21:00", freq="1h", tz=UTC)
    assert find_gaps(on_the_hour, "SPX500", "1h", "2024-01-08", "2024-01-09")[1] == []
    assert (
        expected_slots("GER40", "1d", pd.Timestamp("2024-01-08", tz=UTC), pd.Timestamp("2024-01-15", tz=UTC)).size == 5
    )


def test_spikes_are_flagged_but_weekend_jumps_are_not():
    df = SyntheticProvider().download(
        "EURUSD", "15m", pd.Timestamp("2024-01-01", tz=UTC), pd.Timestamp("2024-03-01", tz=UTC)
    )
    assert find_spikes(df, "15m") == []  # Monday opens jump after the weekend: not spikes
    bad = df.copy()
    i = 1000
    bad.iloc[i, bad.columns.get_loc("close")] *= 1.05
    bad.iloc[i, bad.columns.get_loc("high")] = bad["close"].iloc[i]
    spikes = find_spikes(bad, "15m")
    assert [s["timestamp"] for s in spikes] == [bad.index[i].isoformat(), bad.index[i + 1].isoformat()]
    assert spikes[0]["return_pct"] == pytest.approx(4.88, abs=0.1) and spikes[0]["z"] > 12


def test_synthetic_data_scores_100():
    for symbol, tf in (("XAUUSD", "1h"), ("BTCUSD", "15m"), ("US30", "1h"), ("EURUSD", "1d")):
        start, end = pd.Timestamp("2024-01-01", tz=UTC), pd.Timestamp("2024-04-01", tz=UTC)
        df = SyntheticProvider().download(symbol, tf, start, end)
        report = quality_report(df, symbol=symbol, timeframe=tf, start=start, end=end, now=end)
        assert report["completeness_score"] == 100, (symbol, tf, report["gaps"], report["anomalies"]["spikes"])
        assert report["missing_bars"] == 0


def test_report_counts_missing_bars_and_says_so_in_words():
    start, end = pd.Timestamp("2024-01-08", tz=UTC), pd.Timestamp("2024-01-13", tz=UTC)
    df = SyntheticProvider().download("EURUSD", "1h", start, end)
    holed = df.drop(df.index[10:22])
    report = quality_report(
        holed, symbol="EURUSD", timeframe="1h", start=start, end=end, now=pd.Timestamp("2024-01-13 02:00", tz=UTC)
    )
    assert report["expected_bars"] == 116 and report["missing_bars"] == 12
    assert report["missing_bar_pct"] == pytest.approx(100 * 12 / 116, abs=0.01)
    assert report["completeness_score"] == 90
    assert report["gaps"]["largest"] == {
        "start": "2024-01-08T10:00:00+00:00",
        "end": "2024-01-08T22:00:00+00:00",
        "bars": 12,
    }
    assert report["freshness"]["age_hours"] == pytest.approx(3.0)
    text = quality_summary(report)
    assert text.startswith("Data quality 90/100; 10.3% of expected bars missing in 1 gap(s)")
