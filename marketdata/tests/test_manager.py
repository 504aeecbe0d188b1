"""DataManager: L1 and L2 caching, downloading only what is missing, freshness, the circuit
breaker with stale data, retries, throttling and clean-up."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata.manager import DataUnavailable
from marketdata.providers import ProviderUnavailable, SymbolNotFound
from marketdata.providers.synthetic import SyntheticProvider
from marketdata.reliability import CircuitBreaker, Throttle, call_with_retries
from marketdata.storage import LocalStorage

from .conftest import NOW

UTC = "UTC"


def ts(text):
    return pd.Timestamp(text, tz=UTC)


class CountingProvider(SyntheticProvider):
    """The synthetic provider, recording what it was asked for; ``failures`` transient errors
    first (an outage), and ``live`` like Yahoo when asked."""

    def __init__(self, live=False, failures=0):
        self.calls: list[tuple] = []
        self.live = live
        self.failures = failures

    def download(self, symbol, timeframe, start, end):
        self.calls.append((pd.Timestamp(start), pd.Timestamp(end)))
        if self.failures:
            self.failures -= 1
            raise ProviderUnavailable("connection refused")
        return super().download(symbol, timeframe, start, end)


def test_second_read_is_served_from_l1_without_touching_parquet(make_manager):
    provider = CountingProvider()
    manager = make_manager({"synthetic": provider})
    first = manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-03-01"))
    assert not first.from_cache and first.saved and len(provider.calls) == 1
    reads = []
    original = manager.storage._read_parquet
    manager.storage._read_parquet = lambda key, cols: reads.append(key) or original(key, cols)
    again = manager.get_data("EURUSD", "1h", ts("2024-01-10"), ts("2024-02-01"))
    assert again.from_cache and reads == [] and len(provider.calls) == 1
    assert again.frame.index[0] == ts("2024-01-10") and again.frame.index[-1] < ts("2024-02-01")
    pd.testing.assert_frame_equal(again.frame, first.frame.loc["2024-01-10":"2024-01-31"], check_freq=False)


def test_l1_answer_can_be_modified_without_changing_the_cache(make_manager):
    manager = make_manager()
    a = manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-01-10")).frame
    a.loc[a.index[0], "close"] = -1.0
    a["extra"] = 1
    b = manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-01-10")).frame
    assert b["close"].iloc[0] > 0 and "extra" not in b.columns


def test_l1_is_bounded_in_bytes(make_manager):
    manager = make_manager(l1_bytes=100_000)  # about 2,000 hourly bars
    manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-02-01"))  # ~530 bars
    manager.get_data("GBPUSD", "1h", ts("2024-01-01"), ts("2024-02-01"))
    assert len(manager.l1) == 2 and manager.l1.nbytes <= 100_000
    manager.get_data("USDJPY", "1h", ts("2024-01-01"), ts("2024-06-01"))  # ~2,600 bars: too big to keep
    manager.get_data("AUDUSD", "1h", ts("2024-01-01"), ts("2024-03-01"))
    assert manager.l1.nbytes <= 100_000
    assert ("EURUSD@SYNTHETIC", "1h") not in manager.l1._entries  # least recently used went first


def test_l1_notices_a_write_by_another_process(make_manager, tmp_path):
    manager = make_manager(l1_revalidate_seconds=0)
    before = manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-01-05")).frame
    other = LocalStorage(tmp_path / "market_cache")  # another worker's handle on the same folder
    changed = before * 1.5
    other.save_data("EURUSD@synthetic", "1h", changed)
    after = manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-01-05")).frame
    assert after["close"].iloc[0] == pytest.approx(before["close"].iloc[0] * 1.5)


def test_only_the_missing_range_is_downloaded_and_merged(make_manager):
    provider = CountingProvider()
    manager = make_manager({"synthetic": provider})
    manager.get_data("EURUSD", "1h", ts("2024-02-01"), ts("2024-03-01"))
    manager.l1.clear()
    wide = manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-04-01"))
    assert provider.calls[1:] == [(ts("2024-01-01"), ts("2024-02-01")), (ts("2024-03-01"), ts("2024-04-01"))]
    expected = SyntheticProvider().download("EURUSD", "1h", ts("2024-01-01"), ts("2024-04-01"))
    assert len(wide.frame) == len(expected) and wide.frame.index.is_monotonic_increasing
    meta = manager.storage.metadata("EURUSD@synthetic", "1h")
    assert meta["covered"] == [["2024-01-01T00:00:00+00:00", "2024-04-01T00:00:00+00:00"]]
    manager.l1.clear()
    manager.get_data("EURUSD", "1h", ts("2024-01-15"), ts("2024-03-15"))
    assert len(provider.calls) == 3  # fully covered: nothing downloaded


def test_column_pruned_cold_read(make_manager):
    manager = make_manager()
    manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-02-01"))
    manager.l1.clear()
    read_columns = []
    original = manager.storage._read_parquet
    manager.storage._read_parquet = lambda key, cols: read_columns.append(cols) or original(key, cols)
    out = manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-02-01"), columns=["close"])
    assert list(out.frame.columns) == ["close"] and read_columns == [["timestamp", "close"]]


def test_live_series_stores_only_closed_bars_and_refreshes_recent_bars_after_the_ttl(make_manager, clock):
    provider = CountingProvider(live=True)
    manager = make_manager({"yahoo": provider}, ttl_seconds=24 * 3600)
    clock.now = ts("2024-03-06 10:30")
    loaded = manager.get_data("EURUSD", "1h", ts("2024-03-01"), ts("2024-03-07"), source="yahoo")
    assert loaded.frame.index[-1] == ts("2024-03-06 09:00")  # the 10:00 bar is still open
    assert provider.calls == [(ts("2024-03-01"), ts("2024-03-06 10:30"))]
    assert manager.storage.metadata("EURUSD@yahoo", "1h")["covered_end"] == "2024-03-06T10:00:00+00:00"

    clock.now = ts("2024-03-06 15:10")  # within the TTL: only the new bars are fetched
    manager.get_data("EURUSD", "1h", ts("2024-03-01"), ts("2024-03-07"), source="yahoo")
    assert provider.calls[-1] == (ts("2024-03-06 10:00"), ts("2024-03-06 15:10"))

    clock.now = ts("2024-03-08 12:00")  # a day and more later: the recent part is fetched again
    manager.get_data("EURUSD", "1h", ts("2024-03-01"), ts("2024-03-07"), source="yahoo")
    assert provider.calls[-1] == (ts("2024-03-05 15:00"), ts("2024-03-07"))
    # History older than the TTL window is never fetched again.
    calls = len(provider.calls)
    manager.l1.clear()
    manager.get_data("EURUSD", "1h", ts("2024-03-01"), ts("2024-03-04"), source="yahoo")
    assert len(provider.calls) == calls


def test_transient_errors_are_retried_with_backoff(make_manager):
    provider = CountingProvider(failures=2)
    slept = []
    manager = make_manager({"synthetic": provider}, retries=2, backoff_seconds=0.5, sleep=slept.append)
    loaded = manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-01-05"))
    assert len(provider.calls) == 3 and len(loaded.frame) > 0
    assert len(slept) == 2 and 0.25 <= slept[0] <= 0.5 and 0.5 <= slept[1] <= 1.0


def test_permanent_errors_are_not_retried():
    breaker = CircuitBreaker("test")
    calls = []

    def unknown():
        calls.append(1)
        raise SymbolNotFound("no such ticker")

    with pytest.raises(SymbolNotFound):
        call_with_retries(unknown, breaker=breaker, retries=3, sleep=lambda s: None)
    assert calls == [1] and breaker.failures == 0


def test_breaker_opens_then_serves_stale_cache_with_a_warning(make_manager, clock):
    provider = CountingProvider(live=True)
    manager = make_manager({"yahoo": provider}, breaker_failures=3, breaker_cooldown_seconds=600, retries=0)
    clock.now = ts("2024-03-06 00:00")
    manager.get_data("EURUSD", "1h", ts("2024-03-01"), ts("2024-03-06"), source="yahoo")
    provider.failures = 100
    clock.now = ts("2024-03-08 00:00")
    for _ in range(3):
        manager.l1.clear()
        loaded = manager.get_data("EURUSD", "1h", ts("2024-03-01"), ts("2024-03-08"), source="yahoo")
        assert loaded.from_cache and loaded.frame.index[-1] == ts("2024-03-05 23:00")
    assert manager.breakers["yahoo"].state == "open"
    calls = len(provider.calls)
    loaded = manager.get_data("EURUSD", "1h", ts("2024-03-01"), ts("2024-03-08"), source="yahoo")
    assert len(provider.calls) == calls  # open: Yahoo is not called at all
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith(
        "Served cached data from 2024-03-06 00:00 UTC because Yahoo Finance was "
        "unavailable (Yahoo Finance is not called for"
    )
    assert "not refreshed: 2024-03-05 00:00 to 2024-03-08 00:00 UTC" in loaded.warnings[0]


def test_breaker_half_opens_after_the_cooldown_and_closes_on_success():
    now = [0.0]
    breaker = CircuitBreaker("Yahoo", failure_threshold=2, cooldown_seconds=60, clock=lambda: now[0])
    for _ in range(2):
        breaker.record_failure(ProviderUnavailable("down"))
    assert breaker.state == "open"
    now[0] = 61
    assert breaker.state == "half-open"
    breaker.before_call()  # the one trial call
    with pytest.raises(ProviderUnavailable, match="not called"):
        breaker.before_call()  # a second caller waits for the trial
    breaker.record_success()
    assert breaker.state == "closed"


def test_no_cache_and_provider_down_fails_with_data_unavailable(make_manager):
    manager = make_manager({"yahoo": CountingProvider(live=True, failures=100)}, retries=1)
    with pytest.raises(DataUnavailable) as err:
        manager.get_data("EURUSD", "1h", ts("2024-03-01"), ts("2024-03-06"), source="yahoo")
    assert err.value.code == "DATA_UNAVAILABLE"
    assert "Yahoo Finance is unavailable (connection refused) and no cached EURUSD 1h data covers" in err.value.message


def test_throttle_spaces_calls():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(0.5, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        throttle.wait()
    assert slept == [0.5, 0.5]


def test_size_cleanup_evicts_least_recently_updated_provider_series_and_keeps_uploads(make_manager, clock):
    manager = make_manager()
    for symbol in ("EURUSD", "GBPUSD", "USDJPY"):
        manager.get_data(symbol, "1h", ts("2024-01-01"), ts("2024-03-01"))
    upload = SyntheticProvider().download("XAUUSD", "1h", ts("2024-01-01"), ts("2024-03-01"))
    manager.save_frame("XAUUSD@csv-abc", "1h", upload, source="csv")
    sizes = {m["symbol"]: m["size_bytes"] for m in manager.storage.list()}
    keep = sizes["USDJPY@SYNTHETIC"] + sizes["XAUUSD@CSV-ABC"]
    removed = manager.cache_cleanup(max_bytes=keep)
    assert [m["symbol"] for m in removed] == ["EURUSD@SYNTHETIC", "GBPUSD@SYNTHETIC"]
    assert {m["symbol"] for m in manager.storage.list()} == {"USDJPY@SYNTHETIC", "XAUUSD@CSV-ABC"}
    assert manager.cache_cleanup(max_bytes=0)[0]["symbol"] == "USDJPY@SYNTHETIC"
    assert [m["symbol"] for m in manager.storage.list()] == ["XAUUSD@CSV-ABC"]  # an upload is the only copy


def test_clear_old_cache_by_age(make_manager, clock):
    manager = make_manager()
    manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-01-10"))
    clock.now = NOW + pd.Timedelta(days=29)
    assert manager.clear_old_cache(30) == []
    clock.now = NOW + pd.Timedelta(days=31)
    assert [m["symbol"] for m in manager.clear_old_cache(30)] == ["EURUSD@SYNTHETIC"]
    assert manager.storage.list() == []


def test_manager_works_on_s3(make_manager, s3_storage):
    manager = make_manager(storage=s3_storage)
    first = manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-02-15"))
    manager.l1.clear()
    again = manager.get_data("EURUSD", "1h", ts("2024-01-01"), ts("2024-02-15"), columns=["close", "volume"])
    assert again.from_cache and list(again.frame.columns) == ["close", "volume"]
    assert (again.frame["close"].to_numpy() == first.frame["close"].to_numpy()).all()
