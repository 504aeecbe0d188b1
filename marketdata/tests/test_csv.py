"""CSV parsing: flexible headers, separators and timezones; problems by line."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata.providers.csv import CsvFileProvider, CsvFormatError, parse_csv

UTC = "UTC"


def test_common_export_formats_parse_to_the_same_bars():
    plain = (
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-02 10:00,1.1000,1.1010,1.0990,1.1005,120\n"
        "2024-01-02 11:00,1.1005,1.1020,1.1000,1.1015,130\n"
    )
    metatrader = (
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\n"
        "2024.01.02\t10:00\t1.1000\t1.1010\t1.0990\t1.1005\t120\n"
        "2024.01.02\t11:00\t1.1005\t1.1020\t1.1000\t1.1015\t130\n"
    )
    european = (
        "datetime;open;high;low;close;volume\n"
        "2024-01-02 11:00;1,1000;1,1010;1,0990;1,1005;120\n"
        "2024-01-02 12:00;1,1005;1,1020;1,1000;1,1015;130\n"
    )
    iso = (
        "TIMESTAMP|O|H|L|C|V\n"
        "2024-01-02T10:00:00Z|1.1000|1.1010|1.0990|1.1005|120\n"
        "2024-01-02T12:00:00+01:00|1.1005|1.1020|1.1000|1.1015|130\n"
    )
    epoch = (
        "timestamp,open,high,low,close,volume\n"
        "1704189600000,1.1000,1.1010,1.0990,1.1005,120\n"
        "1704193200000,1.1005,1.1020,1.1000,1.1015,130\n"
    )
    frames = [
        parse_csv(plain, tz="UTC"),
        parse_csv(metatrader.encode("utf-8"), tz="UTC"),
        parse_csv(european, tz="Europe/Berlin"),
        parse_csv(iso),
        parse_csv(epoch),
    ]
    for parsed in frames:
        assert parsed.timeframe == "1h"
        assert list(parsed.frame.index) == [
            pd.Timestamp("2024-01-02 10:00", tz=UTC),
            pd.Timestamp("2024-01-02 11:00", tz=UTC),
        ]
        assert list(parsed.frame["close"]) == [1.1005, 1.1015] and list(parsed.frame["volume"]) == [120, 130]


def test_naive_times_need_an_explicit_timezone():
    with pytest.raises(CsvFormatError, match="no timezone; pass tz") as err:
        parse_csv("Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n2024-01-03,1,2,0.5,1.5\n")
    assert err.value.problems[0]["line"] == 2
    with pytest.raises(CsvFormatError, match="unknown timezone"):
        parse_csv("Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n", tz="Mars/Olympus")


def test_problems_are_listed_by_file_line():
    text = (
        "Datetime,Open,High,Low,Close,Volume\n"
        "2024-01-02 00:00,1.10,1.20,1.00,1.15,10\n"
        "\n"
        "2024-01-02 01:00,abc,1.25,1.10,1.20,11\n"
        "yesterday,1.20,1.30,1.10,1.25,12\n"
        "2024-01-02 03:00,1.20,1.10,1.15,1.25,12\n"
        "2024-01-02 03:00,1.20,1.30,1.15,1.25,-5\n"
    )
    with pytest.raises(CsvFormatError) as err:
        parse_csv(text, tz="UTC")
    lines = [(p["line"], p.get("check") or p["message"].split()[0]) for p in err.value.problems]
    assert lines == [(4, "Open"), (5, "time"), (6, "high_below_open_close"), (7, "duplicate"), (7, "negative_volume")]
    assert "line 4" in err.value.message


def test_repair_policy_keeps_the_good_rows_and_reports_the_rest():
    text = (
        "time,open,high,low,close\n"
        "2024-01-02 02:00,1,2,0.5,1.5\n"
        "2024-01-02 00:00,1,2,0.5,1.5\n"
        "2024-01-02 01:00,1,0.9,0.5,1.5\n"
        "2024-01-02 03:00,1,2,0.5,1.5\n"
    )
    parsed = parse_csv(text, tz="UTC", policy="repair", timeframe="1h")
    assert list(parsed.frame.index.hour) == [0, 2, 3]
    assert [(p["line"], p["check"]) for p in parsed.problems] == [(3, "unsorted"), (4, "high_below_open_close")]
    assert any("no volume column" in r for r in parsed.repaired)
    assert any("sorted" in r for r in parsed.repaired)


def test_missing_columns_and_wrong_timeframe_are_explained():
    with pytest.raises(CsvFormatError, match="lacks .*close"):
        parse_csv("Date,Open,High,Low\n2024-01-02,1,2,0.5\n", tz="UTC")
    with pytest.raises(CsvFormatError, match="5m apart but the timeframe given is 1h"):
        parse_csv(
            "Date,Open,High,Low,Close\n2024-01-02 00:00,1,2,0.5,1.5\n2024-01-02 00:05,1,2,0.5,1.5\n"
            "2024-01-02 00:10,1,2,0.5,1.5\n",
            tz="UTC",
            timeframe="1h",
        )
    with pytest.raises(CsvFormatError, match="empty"):
        parse_csv(b"")


def test_a_header_over_the_column_cap_is_refused_before_any_row_is_parsed(monkeypatch):
    import marketdata.providers.csv as csv_provider

    def never(*args, **kwargs):
        raise AssertionError("rows were parsed")

    monkeypatch.setattr(csv_provider.pd, "read_csv", never)
    wide = "Date,Open,High,Low,Close," + ",".join(f"extra{i}" for i in range(100_000))
    with pytest.raises(CsvFormatError, match="100,005 columns; a file may have at most 16") as refused:
        parse_csv(wide + "\n" + "2024-01-02,1,2,0.5,1.5" + ",1" * 100_000 + "\n", tz="UTC")
    assert refused.value.problems == [
        {"line": 1, "message": "100,005 columns; at most 16", "columns": 100_005, "max_columns": 16}
    ]
    with pytest.raises(CsvFormatError, match="lacks .*close"):
        parse_csv("Date;Open;High;Low\r2024-01-02;1;2;0.5\r", tz="UTC")


def test_nonexistent_local_time_is_a_problem_not_a_silent_shift():
    text = (
        "Date,Open,High,Low,Close\n2024-03-10 01:30,1,2,0.5,1.5\n2024-03-10 02:30,1,2,0.5,1.5\n"
        "2024-03-10 03:30,1,2,0.5,1.5\n"
    )
    with pytest.raises(CsvFormatError) as err:
        parse_csv(text, tz="America/New_York")
    assert err.value.problems[0]["line"] == 3 and "does not exist" in err.value.problems[0]["message"]


def test_csv_provider_downloads_its_range():
    text = "Date,Open,High,Low,Close\n" + "".join(f"2024-01-02 {h:02d}:00,1,2,0.5,1.5\n" for h in range(10))
    provider = CsvFileProvider(text, tz="UTC")
    out = provider.download(
        "X", "1h", pd.Timestamp("2024-01-02 03:00", tz=UTC), pd.Timestamp("2024-01-02 05:00", tz=UTC)
    )
    assert list(out.index.hour) == [3, 4]
