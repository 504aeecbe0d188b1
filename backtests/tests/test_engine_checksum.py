"""The data checksum and the bars' check are remembered per series in memory (``run._SERIES``): the
same bars are hashed and checked once, and bars changed in any way pandas allows get their own
checksum and check, never a stale one."""

import hashlib
import types

import numpy as np
import pandas as pd
import pytest

from backtests.engine import run as engine_run
from backtests.engine.errors import EngineError
from backtests.engine.run import _SeriesMemo, _warm_frame, _warm_spec, data_checksum, run_backtest
from backtests.engine.validate import check_bars


def reference(frame: pd.DataFrame) -> str:
    """The checksum's definition, hashed afresh: sha256 over the times (ns) and OHLCV (float64)."""
    digest = hashlib.sha256(np.ascontiguousarray(frame.index.as_unit("ns").asi8).tobytes())
    for column in ("open", "high", "low", "close", "volume"):
        if column in frame.columns:
            digest.update(np.ascontiguousarray(frame[column].to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()


@pytest.fixture
def hashed(monkeypatch):
    """How many times the engine hashed bars (a fresh memo for the test)."""
    calls = []

    def sha256(*args):
        calls.append(1)
        return hashlib.sha256(*args)

    monkeypatch.setattr(engine_run, "_SERIES", _SeriesMemo(max_bytes=2**30))
    monkeypatch.setattr(engine_run, "hashlib", types.SimpleNamespace(sha256=sha256))
    return calls


def test_the_same_bars_are_hashed_once(hashed):
    frame = _warm_frame(500)
    assert data_checksum(frame) == reference(frame)
    assert data_checksum(frame) == reference(frame)
    assert data_checksum(frame.copy(deep=False)) == reference(frame)  # another frame on the same memory
    assert data_checksum(frame.iloc[:]) == reference(frame)
    assert len(hashed) == 1


def test_a_run_on_bars_hashed_before_does_not_hash_them_again(hashed):
    frame = _warm_frame(500)
    first = run_backtest(frame, _warm_spec())
    second = run_backtest(frame, _warm_spec())
    assert first.data_checksum == second.data_checksum == reference(frame)
    assert len(hashed) == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.iloc.__setitem__((7, 3), 123.0),
        lambda f: f.loc.__setitem__((f.index[9], "open"), 99.0),
        lambda f: f.__setitem__("close", f["close"] * 2),
        lambda f: f.loc.__setitem__((f.index[:10], "high"), f["high"].iloc[:10] * 1.5),
        lambda f: f.clip(lower=101.0, inplace=True),
        lambda f: f.__setitem__("volume", 7.0),
        lambda f: setattr(f, "index", f.index + pd.Timedelta(minutes=1)),
        lambda f: f.pop("volume"),
        lambda f: f.__setitem__(slice(None), f.iloc[::-1].to_numpy()),
    ],
    ids=["iloc", "loc", "column", "loc-rows", "clip-inplace", "scalar-column", "index", "pop", "all-values"],
)
def test_bars_changed_through_pandas_are_hashed_again(hashed, change):
    frame = _warm_frame(500)  # the only frame on its memory: pandas would write in place if it could
    before = data_checksum(frame)
    change(frame)
    after = data_checksum(frame)
    assert after == reference(frame) != before
    assert len(hashed) == 2


def test_a_slice_of_remembered_bars_gets_its_own_checksum(hashed):
    frame = _warm_frame(500)
    data_checksum(frame)
    for part in (frame.iloc[:400], frame.iloc[100:], frame[["open", "close"]]):
        assert data_checksum(part) == reference(part)
    assert len(hashed) == 4


def test_columns_of_another_type_are_remembered_as_they_are_held(hashed):
    frame = _warm_frame(500).astype({"volume": np.int64})  # hashed as float64, keyed on the int64 memory
    assert data_checksum(frame) == data_checksum(frame) == reference(frame)
    frame.iloc[3, 4] = 5
    assert data_checksum(frame) == reference(frame)
    assert len(hashed) == 2


def test_the_memo_keeps_the_newest_series_within_its_bytes(monkeypatch):
    memo = _SeriesMemo(max_bytes=3 * 500 * 6 * 8)  # three frames of 500 bars, 6 arrays of 8 bytes
    monkeypatch.setattr(engine_run, "_SERIES", memo)
    frames = [_warm_frame(500) for _ in range(5)]
    for frame in frames:
        data_checksum(frame)
    assert [engine_run.remembered_checksum(f) for f in frames] == [None, None] + [reference(f) for f in frames[2:]]


def test_bars_that_passed_the_check_are_not_checked_again_until_they_change(monkeypatch):
    monkeypatch.setattr(engine_run, "_SERIES", _SeriesMemo(max_bytes=2**30))
    checked = []
    monkeypatch.setattr(engine_run, "check_bars", lambda data: checked.append(1) or check_bars(data))
    frame = _warm_frame(500)
    run_backtest(frame, _warm_spec())
    run_backtest(frame.copy(deep=False), _warm_spec())
    assert len(checked) == 1
    frame.iloc[100, frame.columns.get_loc("high")] = frame["low"].iloc[100] / 2  # a high below its low
    with pytest.raises(EngineError) as error:
        run_backtest(frame, _warm_spec())
    assert error.value.details["bar"] == 100 and len(checked) == 2


@pytest.mark.parametrize("threshold, threaded", [(2**40, False), (0, True)])
def test_small_data_is_hashed_on_the_runs_own_thread(hashed, monkeypatch, threshold, threaded):
    """A thread for the hash only where the data is large (``BACKGROUND_CHECKSUM_BYTES``): either
    way the run gets the same checksum, and a failing hash fails the run in its own thread."""
    threads = []
    real_start = engine_run.BackgroundChecksum.start

    def start(self):
        real_start(self)
        threads.append(self.is_alive() or self.ident is not None)

    monkeypatch.setattr(engine_run, "BACKGROUND_CHECKSUM_BYTES", threshold)
    monkeypatch.setattr(engine_run.BackgroundChecksum, "start", start)
    frame = _warm_frame(500)
    result = run_backtest(frame, _warm_spec())
    assert result.data_checksum == reference(frame)
    assert threads == [threaded]
    assert engine_run.hashed_bytes(frame) == 8 * len(frame) * 6

    def broken(*args):
        raise OSError("hash failed")

    monkeypatch.setattr(engine_run, "hashlib", types.SimpleNamespace(sha256=broken))
    with pytest.raises(OSError, match="hash failed"):
        run_backtest(_warm_frame(400), _warm_spec())
