"""The storage contract on both backends (local Parquet and real S3), and the local backend's
crash safety and cross-process locking."""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np
import pandas as pd
import pytest

from marketdata.providers.synthetic import SyntheticProvider
from marketdata.storage import LocalStorage, StorageError

UTC = "UTC"


def assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal values and times (storage keeps nanosecond timestamps; pandas may build microseconds)."""
    right = right.astype("float64")
    right.index = right.index.as_unit("ns")
    pd.testing.assert_frame_equal(left, right, check_freq=False, check_names=False)


def bars(symbol="EURUSD", timeframe="1h", start="2024-01-01", end="2024-04-01"):
    return SyntheticProvider().download(symbol, timeframe, pd.Timestamp(start, tz=UTC), pd.Timestamp(end, tz=UTC))


def test_round_trip_is_exact_and_metadata_describes_the_series(storage):
    df = bars()
    meta = storage.save_data("EURUSD@synthetic", "1h", df, source="synthetic")
    back = storage.get_data("EURUSD@synthetic", "1h")
    assert_same(back, df)
    assert back.index.tz is not None and str(back.index.tz) == "UTC"
    assert meta["rows"] == len(df) and meta["source"] == "synthetic"
    assert meta["start"] == df.index[0].isoformat() and meta["end"] == df.index[-1].isoformat()
    assert sorted(meta["parts"]) == ["2024/01", "2024/02", "2024/03"]
    assert len(meta["checksum"]) == 64 and meta["size_bytes"] > 0
    assert storage.metadata("eurusd@synthetic", "1h")["checksum"] == meta["checksum"]


def test_missing_series_is_none_not_an_error(storage):
    assert storage.get_data("NOPE@synthetic", "1h") is None
    assert storage.metadata("NOPE@synthetic", "1h") is None
    assert (
        storage.has_cached_data(
            "NOPE@synthetic", "1h", pd.Timestamp("2024-01-01", tz=UTC), pd.Timestamp("2024-01-02", tz=UTC)
        )
        is False
    )
    assert storage.delete("NOPE@synthetic", "1h") is False


def test_range_read_is_half_open_and_touches_only_overlapping_partitions(storage):
    storage.save_data("EURUSD@synthetic", "1h", bars())
    opened = []
    original = storage._read_parquet
    storage._read_parquet = lambda key, columns: opened.append(key) or original(key, columns)
    start, end = pd.Timestamp("2024-02-05 10:00", tz=UTC), pd.Timestamp("2024-02-07 00:00", tz=UTC)
    df = storage.get_data("EURUSD@synthetic", "1h", start, end)
    assert df.index[0] == start and df.index[-1] == end - pd.Timedelta(hours=1)
    assert [k.rsplit("/", 2)[-2:] for k in opened] == [["2024", "02.parquet"]]


def test_column_pruning_returns_only_the_requested_columns(storage):
    storage.save_data("EURUSD@synthetic", "1h", bars())
    df = storage.get_data("EURUSD@synthetic", "1h", columns=["close"])
    assert list(df.columns) == ["close"]
    with pytest.raises(StorageError, match="unknown columns"):
        storage.get_data("EURUSD@synthetic", "1h", columns=["close", "vwap"])


def test_save_merges_new_rows_win_and_covered_ranges_join(storage):
    df = bars(end="2024-02-01")
    storage.save_data(
        "EURUSD@synthetic",
        "1h",
        df,
        covered_start=pd.Timestamp("2024-01-01", tz=UTC),
        covered_end=pd.Timestamp("2024-02-01", tz=UTC),
    )
    changed = df.iloc[-10:].copy() * 2
    later = bars(start="2024-02-01", end="2024-02-10")
    meta = storage.save_data(
        "EURUSD@synthetic",
        "1h",
        pd.concat([changed, later]),
        covered_start=df.index[-10],
        covered_end=pd.Timestamp("2024-02-10", tz=UTC),
    )
    back = storage.get_data("EURUSD@synthetic", "1h")
    assert len(back) == len(df) + len(later)
    assert back.loc[df.index[-1], "close"] == pytest.approx(df["close"].iloc[-1] * 2)
    assert back.index.is_monotonic_increasing and not back.index.duplicated().any()
    assert meta["covered"] == [["2024-01-01T00:00:00+00:00", "2024-02-10T00:00:00+00:00"]]
    assert storage.has_cached_data(
        "EURUSD@synthetic", "1h", pd.Timestamp("2024-01-15", tz=UTC), pd.Timestamp("2024-02-10", tz=UTC)
    )
    assert not storage.has_cached_data(
        "EURUSD@synthetic", "1h", pd.Timestamp("2024-01-15", tz=UTC), pd.Timestamp("2024-02-11", tz=UTC)
    )


def test_disjoint_covered_ranges_are_kept_apart(storage):
    storage.save_data(
        "X@synthetic",
        "1d",
        bars("X", "1d", "2024-01-01", "2024-02-01"),
        covered_start=pd.Timestamp("2024-01-01", tz=UTC),
        covered_end=pd.Timestamp("2024-02-01", tz=UTC),
    )
    storage.save_data(
        "X@synthetic",
        "1d",
        bars("X", "1d", "2024-05-01", "2024-06-01"),
        covered_start=pd.Timestamp("2024-05-01", tz=UTC),
        covered_end=pd.Timestamp("2024-06-01", tz=UTC),
    )
    meta = storage.metadata("X@synthetic", "1d")
    assert len(meta["covered"]) == 2
    assert not storage.has_cached_data(
        "X@synthetic", "1d", pd.Timestamp("2024-01-10", tz=UTC), pd.Timestamp("2024-05-10", tz=UTC)
    )


def test_delete_and_list(storage):
    storage.save_data("EURUSD@synthetic", "1h", bars(end="2024-01-05"), source="synthetic")
    storage.save_data("BTCUSD@synthetic", "1d", bars("BTCUSD", "1d", end="2024-01-05"), source="synthetic")
    assert [(m["symbol"], m["timeframe"]) for m in storage.list()] == [
        ("BTCUSD@SYNTHETIC", "1d"),
        ("EURUSD@SYNTHETIC", "1h"),
    ]
    assert storage.delete("EURUSD@synthetic", "1h") is True
    assert storage.get_data("EURUSD@synthetic", "1h") is None
    assert [m["symbol"] for m in storage.list()] == ["BTCUSD@SYNTHETIC"]


@pytest.mark.parametrize("name", ["../etc", "A/B", "a b", "", "X" * 100, "..", "EUR\x00USD"])
def test_names_that_could_escape_the_root_are_refused(storage, name):
    with pytest.raises(StorageError, match="invalid series name"):
        storage.get_data(name, "1h")


def test_unknown_timeframe_and_naive_index_are_refused(storage):
    with pytest.raises(StorageError, match="invalid timeframe"):
        storage.get_data("EURUSD@synthetic", "7m")
    naive = bars(end="2024-01-03")
    naive.index = naive.index.tz_localize(None)
    with pytest.raises(StorageError, match="timezone-aware"):
        storage.save_data("EURUSD@synthetic", "1h", naive)


def test_a_corrupt_part_is_a_storage_error_never_data(local_storage):
    local_storage.save_data("EURUSD@synthetic", "1h", bars(end="2024-02-01"))
    part = local_storage.root / "EURUSD@SYNTHETIC" / "1h" / "2024" / "01.parquet"
    raw = bytearray(part.read_bytes())
    raw[len(raw) // 3 : len(raw) // 3 + 64] = os.urandom(64)  # flip bytes inside a data page
    part.write_bytes(bytes(raw))
    with pytest.raises(StorageError):
        local_storage.get_data("EURUSD@synthetic", "1h")


def test_a_crash_mid_write_leaves_the_old_file_whole(local_storage, monkeypatch):
    old = bars(end="2024-02-01")
    local_storage.save_data("EURUSD@synthetic", "1h", old)
    before = local_storage.metadata("EURUSD@synthetic", "1h")

    def crash(src, dst):
        raise OSError("simulated power cut before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StorageError, match="power cut"):
        local_storage.save_data("EURUSD@synthetic", "1h", old * 3)
    monkeypatch.undo()
    series = local_storage.root / "EURUSD@SYNTHETIC" / "1h"
    assert not list(series.rglob("*.tmp"))  # the temporary file was removed
    assert_same(local_storage.get_data("EURUSD@synthetic", "1h"), old)
    assert local_storage.metadata("EURUSD@synthetic", "1h") == before


def test_a_part_written_before_a_crash_is_found_by_the_next_save(local_storage, monkeypatch):
    local_storage.save_data("EURUSD@synthetic", "1h", bars(end="2024-02-01"))
    real_write = local_storage._write_bytes

    def die_on_metadata(key, data):
        if key.endswith("metadata.json"):
            raise OSError("killed before metadata.json")
        real_write(key, data)

    monkeypatch.setattr(local_storage, "_write_bytes", die_on_metadata)
    with pytest.raises(StorageError):
        local_storage.save_data("EURUSD@synthetic", "1h", bars(start="2024-02-01", end="2024-03-01"))
    monkeypatch.undo()
    # Readers still see the old, consistent series...
    assert local_storage.get_data("EURUSD@synthetic", "1h").index[-1] < pd.Timestamp("2024-02-01", tz=UTC)
    # ...and the next save reconciles the orphan February part instead of losing it.
    local_storage.save_data("EURUSD@synthetic", "1h", bars(start="2024-03-01", end="2024-03-05"))
    assert sorted(local_storage.metadata("EURUSD@synthetic", "1h")["parts"]) == ["2024/01", "2024/02", "2024/03"]


def test_stale_temporary_files_are_cleaned_up(local_storage):
    local_storage.save_data("EURUSD@synthetic", "1h", bars(end="2024-01-03"))
    leftover = local_storage.root / "EURUSD@SYNTHETIC" / "1h" / "2024" / ".01.parquet.abc.tmp"
    leftover.write_bytes(b"half a file")
    os.utime(leftover, (0, 0))
    assert local_storage.get_data("EURUSD@synthetic", "1h") is not None
    assert local_storage.cleanup_temp_files(older_than_seconds=60) == 1
    assert not leftover.exists()


def _writer(root: str, month: int, barrier) -> None:
    storage = LocalStorage(root)
    df = SyntheticProvider().download(
        "EURUSD", "1h", pd.Timestamp(f"2024-{month:02d}-01", tz=UTC), pd.Timestamp(f"2024-{month + 1:02d}-01", tz=UTC)
    )
    # Every writer also rewrites the shared first week of January: the lock must serialise them.
    shared = SyntheticProvider().download(
        "EURUSD", "1h", pd.Timestamp("2024-01-01", tz=UTC), pd.Timestamp("2024-01-08", tz=UTC)
    )
    barrier.wait()
    for _ in range(3):
        storage.save_data("EURUSD@synthetic", "1h", pd.concat([shared, df]) if month != 1 else df)


def test_writers_in_separate_processes_lose_nothing(tmp_path):
    root = str(tmp_path / "cache")
    LocalStorage(root)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_writer, args=(root, month, barrier)) for month in (1, 2, 3, 4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    storage = LocalStorage(root)
    df = storage.get_data("EURUSD@synthetic", "1h")
    expected = SyntheticProvider().download(
        "EURUSD", "1h", pd.Timestamp("2024-01-01", tz=UTC), pd.Timestamp("2024-05-01", tz=UTC)
    )
    assert_same(df, expected)
    meta = storage.metadata("EURUSD@synthetic", "1h")
    assert meta["rows"] == len(expected) and sorted(meta["parts"]) == ["2024/01", "2024/02", "2024/03", "2024/04"]


# ---- S3 only --------------------------------------------------------------------------------


def test_s3_objects_use_the_local_layout_under_the_prefix(s3_storage, seaweedfs):
    s3_storage.save_data("EURUSD@synthetic", "1h", bars(end="2024-02-03"))
    listed = seaweedfs["client"].list_objects_v2(Bucket=seaweedfs["bucket"], Prefix=s3_storage.prefix + "/")
    keys = sorted(o["Key"][len(s3_storage.prefix) + 1 :] for o in listed["Contents"])
    assert keys == [
        "EURUSD@SYNTHETIC/1h/2024/01.parquet",
        "EURUSD@SYNTHETIC/1h/2024/02.parquet",
        "EURUSD@SYNTHETIC/1h/metadata.json",
    ]


def test_s3_server_side_encryption_is_requested_on_every_object(seaweedfs):
    from marketdata.storage.s3 import S3Storage

    storage = S3Storage(
        bucket=seaweedfs["bucket"],
        prefix="sse-test",
        endpoint_url=seaweedfs["endpoint_url"],
        access_key_id=seaweedfs["access_key_id"],
        secret_access_key=seaweedfs["secret_access_key"],
        sse="AES256",
    )
    storage.save_data("EURUSD@synthetic", "1h", bars(end="2024-01-03"))
    client = seaweedfs["client"]
    for key in ("sse-test/EURUSD@SYNTHETIC/1h/2024/01.parquet", "sse-test/EURUSD@SYNTHETIC/1h/metadata.json"):
        assert client.head_object(Bucket=seaweedfs["bucket"], Key=key)["ServerSideEncryption"] == "AES256"
    assert len(storage.get_data("EURUSD@synthetic", "1h")) == 48


def test_s3_bad_credentials_are_a_storage_error(seaweedfs):
    from marketdata.storage.s3 import S3Storage

    storage = S3Storage(
        bucket=seaweedfs["bucket"],
        endpoint_url=seaweedfs["endpoint_url"],
        access_key_id="nobody",
        secret_access_key="wrong",
    )
    with pytest.raises(StorageError, match="cannot read"):
        storage.metadata("EURUSD@synthetic", "1h")


def test_s3_unreachable_endpoint_is_a_storage_error():
    from marketdata.storage.s3 import S3Storage

    storage = S3Storage(
        bucket="qm",
        endpoint_url="http://127.0.0.1:9",
        access_key_id="a",
        secret_access_key="b",
        connect_timeout=0.5,
        read_timeout=0.5,
    )
    with pytest.raises(StorageError):
        storage.metadata("EURUSD@synthetic", "1h")


def test_s3_lease_serialises_writers_and_an_expired_lease_is_broken(s3_storage):
    import threading

    with s3_storage._lock("EURUSD@SYNTHETIC/1h"):
        s3_storage.lock_timeout = 0.5
        with pytest.raises(StorageError, match="held by another writer"):
            s3_storage.save_data("EURUSD@synthetic", "1h", bars(end="2024-01-02"))
    s3_storage.lock_timeout = 10
    # A lease left by a crashed writer is broken once it is older than lease_seconds.
    key = s3_storage._key(".locks/EURUSD@SYNTHETIC__1h.lock")
    s3_storage.client.put_object(Bucket=s3_storage.bucket, Key=key, Body=b"crashed")
    s3_storage.lease_seconds = 0.5
    time.sleep(1.1)
    s3_storage.save_data("EURUSD@synthetic", "1h", bars(end="2024-01-02"))
    # Concurrent writers in threads: all rows arrive.
    s3_storage.lease_seconds = 120
    parts = [bars(start=f"2024-0{m}-01", end=f"2024-0{m}-05") for m in (2, 3, 4)]
    threads = [threading.Thread(target=s3_storage.save_data, args=("EURUSD@synthetic", "1h", p)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(s3_storage.get_data("EURUSD@synthetic", "1h")) == 24 + sum(len(p) for p in parts)


def test_s3_a_writer_cut_off_mid_save_never_makes_the_next_one_give_up(s3_storage, seaweedfs):
    """The multi-host test found it: a worker cut off while it held a series' lease, the worker
    taking its run over gave up after lock_timeout (60 s) while the lease lived 120 s. A waiter
    now outlives a lease, and storage refuses settings where it would not."""
    from marketdata.storage.s3 import LEASE_SECONDS, LOCK_TIMEOUT_SECONDS, S3Storage

    assert LOCK_TIMEOUT_SECONDS > LEASE_SECONDS
    s3_storage.lease_seconds, s3_storage.lock_timeout = 0.5, 3
    key = s3_storage._key(".locks/EURUSD@SYNTHETIC__1h.lock")
    s3_storage.client.put_object(Bucket=s3_storage.bucket, Key=key, Body=b"cut off just now")
    s3_storage.save_data("EURUSD@synthetic", "1h", bars(end="2024-01-02"))  # waits, breaks it, saves
    assert len(s3_storage.get_data("EURUSD@synthetic", "1h")) == 24
    with pytest.raises(StorageError, match="must exceed lease_seconds"):
        S3Storage(bucket=seaweedfs["bucket"], endpoint_url=seaweedfs["endpoint_url"], lease_seconds=60, lock_timeout=60)


def test_float_values_survive_exactly(storage):
    rng = np.random.default_rng(1)
    idx = pd.date_range("2024-01-01", periods=1000, freq="1min", tz=UTC)
    df = pd.DataFrame(
        {"open": rng.random(1000), "close": rng.random(1000), "volume": rng.random(1000) * 1e6}, index=idx
    )
    df["high"] = df[["open", "close"]].max(axis=1) + 0.1
    df["low"] = df[["open", "close"]].min(axis=1) - 0.1
    storage.save_data("RAND@synthetic", "1m", df)
    back = storage.get_data("RAND@synthetic", "1m")
    assert (
        back[["open", "high", "low", "close", "volume"]].to_numpy()
        == df[["open", "high", "low", "close", "volume"]].to_numpy()
    ).all()
