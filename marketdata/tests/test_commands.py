"""manage.py fetch_data, import_csv and cache_cleanup."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from marketdata.models import Dataset
from marketdata.providers.synthetic import SyntheticProvider

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_fetch_data_records_a_dataset(make_manager):
    make_manager()
    out, _ = run("fetch_data", "XAUUSD", "1h", "--source", "synthetic", "--start", "2024-01-01", "--end", "2024-02-01")
    dataset = Dataset.objects.get(symbol="XAUUSD", timeframe="1h", source="synthetic")
    assert f"dataset {dataset.id}: XAUUSD 1h (synthetic)" in out and "quality 100/100" in out
    out, _ = run("fetch_data", "XAUUSD", "1h", "--source", "synthetic", "--start", "2024-01-01", "--end", "2024-02-01")
    assert "from cache" in out


def test_fetch_data_from_yahoo(yahoo_manager, yahoo):
    out, _ = run("fetch_data", "EURUSD", "1h", "--start", "2026-11-10", "--end", "2026-11-20")
    assert "EURUSD 1h (yahoo)" in out and yahoo.chart_calls[0]["ticker"] == "EURUSD=X"


def test_fetch_data_explains_yahoo_limits():
    with pytest.raises(CommandError, match="last 30 days only"):
        run("fetch_data", "EURUSD", "1m", "--period", "1y")


def test_import_csv_good_and_bad(tmp_path, alice, make_manager):
    df = SyntheticProvider().download(
        "EURUSD", "1h", pd.Timestamp("2024-01-08", tz="UTC"), pd.Timestamp("2024-01-10", tz="UTC")
    )
    good = tmp_path / "good.csv"
    df.rename_axis("Time").to_csv(good)
    out, _ = run("import_csv", str(good), "--symbol", "EURUSD", "--owner", "alice")
    assert "EURUSD 1h 2024-01-08 00:00 to 2024-01-09 23:00 UTC, 48 bars" in out  # offsets in the file: no --tz
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open,High,Low,Close\n2024-01-08 00:00,1,2,0.5,x\n")
    with pytest.raises(CommandError, match=r"INVALID_DATA(.|\n)*line 2: Close 'x' is not a number"):
        run("import_csv", str(bad), "--symbol", "EURUSD", "--owner", "alice", "--tz", "UTC")
    assert Dataset.objects.count() == 1


def test_cache_cleanup_command(make_manager):
    make_manager()
    run("fetch_data", "XAUUSD", "1h", "--source", "synthetic", "--start", "2024-01-01", "--end", "2024-02-01")
    out, _ = run("cache_cleanup", "--max-gb", "0")
    assert "removed XAUUSD@SYNTHETIC 1h" in out and "1 series removed" in out
    assert Dataset.objects.count() == 0
