"""Loading a run's data (what the worker calls), Dataset rows and their quality reports."""

from __future__ import annotations

import pandas as pd
import pytest

from backtests.engine import data_checksum
from backtests.models import BacktestRun
from marketdata.models import Dataset
from marketdata.providers.synthetic import SyntheticProvider
from marketdata.services import dataset_cache_cleanup, dataset_import_csv, market_data_cached_frame, market_data_load
from qm_platform.errors import CodedError

pytestmark = pytest.mark.django_db
UTC = "UTC"


def ts(text):
    return pd.Timestamp(text, tz=UTC)


def run_for(user, market="XAUUSD", timeframe="1h", start="2024-01-01", end="2024-03-01", source="synthetic"):
    return BacktestRun(
        owner=user,
        request={},
        market=market,
        timeframe=timeframe,
        direction="Long",
        data_start=ts(start).to_pydatetime(),
        data_end=ts(end).to_pydatetime(),
        data_source=source,
    )


def csv_of(df: pd.DataFrame) -> bytes:
    out = df.copy()
    out.index = out.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.rename_axis("Datetime").rename(columns=str.capitalize).to_csv().encode()


def test_synthetic_run_gets_clean_data_a_quality_report_and_a_dataset_row(alice, make_manager):
    make_manager()
    loaded = market_data_load(run=run_for(alice))
    assert len(loaded.frame) == 44 * 24  # 44 weekdays and loaded.warnings == []
    assert loaded.quality["completeness_score"] == 100 and loaded.quality["missing_bars"] == 0
    dataset = Dataset.objects.get(symbol="XAUUSD", timeframe="1h", source="synthetic")
    assert dataset.owner is None and dataset.rows == len(loaded.frame) and len(dataset.checksum) == 64
    assert dataset.quality_report["completeness_score"] == 100
    assert dataset.storage_key == "XAUUSD@SYNTHETIC"
    again = market_data_load(run=run_for(alice))
    assert again.from_cache and not again.saved


def test_the_result_cache_sees_the_same_frame_as_the_run(alice, make_manager):
    make_manager()
    run = run_for(alice, start="2024-02-01", end="2024-02-20")
    assert (
        market_data_cached_frame(
            symbol="XAUUSD", timeframe="1h", start=run.data_start, end=run.data_end, source="synthetic"
        )
        is None
    )  # nothing stored yet: never downloads
    loaded = market_data_load(run=run)
    cached = market_data_cached_frame(
        symbol="XAUUSD", timeframe="1h", start=run.data_start, end=run.data_end, source="synthetic"
    )
    assert data_checksum(cached) == data_checksum(loaded.frame)


def test_yahoo_outage_serves_cache_with_a_warning_and_fails_without_one(alice, yahoo_manager, yahoo, clock):
    clock.now = ts("2026-11-18 00:00")
    yahoo.provider.now = clock
    market_data_load(run=run_for(alice, "EURUSD", "1h", "2026-11-09", "2026-11-18", "yahoo"))
    yahoo.down = True
    clock.now = ts("2026-11-21 00:00")
    yahoo_manager.l1.clear()
    loaded = market_data_load(run=run_for(alice, "EURUSD", "1h", "2026-11-09", "2026-11-21", "yahoo"))
    assert "Served cached data from 2026-11-18 00:00 UTC because Yahoo Finance was unavailable" in loaded.warnings[0]
    with pytest.raises(CodedError) as err:
        market_data_load(run=run_for(alice, "GBPUSD", "1h", "2026-11-09", "2026-11-18", "yahoo"))
    assert err.value.code == "DATA_UNAVAILABLE" and "no cached GBPUSD 1h data" in err.value.message


def test_a_window_with_holes_says_so_in_the_run_warnings(alice, make_manager):
    manager = make_manager()
    df = SyntheticProvider().download("EURUSD", "1h", ts("2024-01-08"), ts("2024-01-13"))
    holed = df.drop(df.index[20:40])
    result = dataset_import_csv(user=alice, data=csv_of(holed), symbol="EURUSD")
    loaded = market_data_load(
        run=run_for(alice, "EURUSD", "1h", "2024-01-08", "2024-01-13", f"dataset:{result.dataset.id}")
    )
    assert loaded.quality["missing_bars"] == 20
    assert loaded.warnings == [
        "Data quality 83/100; 17.2% of expected bars missing in 1 gap(s), the largest "
        "2024-01-08T20:00:00+00:00 to 2024-01-09T16:00:00+00:00."
    ]
    assert manager.storage.metadata(result.dataset.storage_key, "1h")["source"] == "csv"


def test_a_dataset_run_can_use_a_larger_timeframe(alice, make_manager):
    make_manager()
    df = SyntheticProvider().download("XAUUSD", "15m", ts("2024-01-08"), ts("2024-01-13"))
    dataset = dataset_import_csv(user=alice, data=csv_of(df), symbol="XAUUSD", timeframe="15m").dataset
    loaded = market_data_load(run=run_for(alice, "XAUUSD", "1h", "2024-01-08", "2024-01-13", f"dataset:{dataset.id}"))
    assert len(loaded.frame) == 5 * 24 and loaded.frame.index.freqstr is None
    assert loaded.warnings == [f"Built 1h bars from the 15m bars of dataset {dataset.id}."]
    assert loaded.frame["high"].iloc[0] == df["high"].iloc[:4].max()


def test_a_deleted_dataset_fails_the_run_clearly(alice, make_manager):
    make_manager()
    with pytest.raises(CodedError) as err:
        market_data_load(run=run_for(alice, source="dataset:999"))
    assert err.value.code == "DATA_UNAVAILABLE" and "deleted" in err.value.message


def test_cleanup_removes_provider_rows_and_keeps_uploads(alice, make_manager):
    manager = make_manager()
    market_data_load(run=run_for(alice))
    df = SyntheticProvider().download("EURUSD", "1h", ts("2024-01-08"), ts("2024-01-13"))
    upload = dataset_import_csv(user=alice, data=csv_of(df), symbol="EURUSD").dataset
    removed = dataset_cache_cleanup(max_bytes=0)
    assert [m["symbol"] for m in removed] == ["XAUUSD@SYNTHETIC"]
    assert list(Dataset.objects.values_list("id", flat=True)) == [upload.id]
    assert manager.storage.metadata(upload.storage_key, "1h") is not None


class _HugeUpload:
    """An uploaded file that says it is 200 MB; reading it fails the test."""

    size = 200 * 1024 * 1024
    name = "huge.csv"

    def read(self, *args):
        raise AssertionError("the file was read")


def test_an_upload_is_refused_by_its_size_before_it_is_read(alice):
    with pytest.raises(CodedError) as refused:
        dataset_import_csv(user=alice, data=_HugeUpload(), symbol="EURUSD")
    assert refused.value.code == "FILE_TOO_LARGE" and refused.value.status_code == 413
    assert "200.0 MB" in refused.value.message and Dataset.objects.count() == 0
