"""The storage interface from the original report, kept small.

A missing object returns ``None`` (or ``False``); any other failure raises ``StorageError``.
Frames are OHLCV with a UTC ``DatetimeIndex`` named ``timestamp``.

A series is addressed by ``symbol`` (a storage key such as ``XAUUSD@yahoo``) and
``timeframe``. Its metadata (see ``metadata``) holds the stored range, the ranges known to be
complete (``covered``: a closed market has no bars there, yet nothing is missing), rows,
bytes, a checksum and the time of the last update, so freshness can be checked without
reading Parquet.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from marketdata.timeframes import TIMEFRAME_SECONDS
from qm_platform.errors import CodedError

OHLCV = ["open", "high", "low", "close", "volume"]
_SYMBOL_RE = re.compile(r"^[A-Z0-9^][A-Z0-9._^=@-]{0,79}$")


class StorageError(CodedError):
    """A storage operation failed for a reason other than 'not there'."""

    code = "STORAGE_ERROR"

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(None, message, details)


def series_name(symbol: str, timeframe: str) -> tuple[str, str]:
    """The checked (SYMBOL, timeframe) pair used in paths and object keys.

    Symbols are upper-cased; anything that could escape the storage root ('/', '..',
    spaces, control characters) is refused rather than rewritten.
    """
    name = str(symbol).upper()
    if not _SYMBOL_RE.match(name) or ".." in name:
        raise StorageError(f"invalid series name {symbol!r}")
    if timeframe not in TIMEFRAME_SECONDS:
        raise StorageError(f"invalid timeframe {timeframe!r}")
    return name, timeframe


def utc(moment) -> pd.Timestamp | None:
    if moment is None:
        return None
    ts = pd.Timestamp(moment)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def empty_frame(columns: Sequence[str] = OHLCV) -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="float64") for c in columns},
        index=pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns"),
    )


def merge_ranges(ranges: list[tuple[pd.Timestamp, pd.Timestamp]]) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Union of half-open ranges, sorted; touching ranges are joined."""
    out: list[list[pd.Timestamp]] = []
    for start, end in sorted((s, e) for s, e in ranges if e > s):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def missing_ranges(
    covered: list[tuple[pd.Timestamp, pd.Timestamp]], start: pd.Timestamp, end: pd.Timestamp
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The parts of [start, end) that no covered range contains."""
    gaps, cursor = [], start
    for s, e in merge_ranges(covered):
        if e <= cursor:
            continue
        if s >= end:
            break
        if s > cursor:
            gaps.append((cursor, min(s, end)))
        cursor = max(cursor, e)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def covered_ranges(meta: dict | None) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    if not meta:
        return []
    if meta.get("covered"):
        return [(utc(s), utc(e)) for s, e in meta["covered"]]
    if meta.get("covered_start") and meta.get("covered_end"):  # metadata written before v2
        return [(utc(meta["covered_start"]), utc(meta["covered_end"]))]
    return []


class DataStorage(ABC):
    @abstractmethod
    def get_data(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame | None:
        """Rows with start <= timestamp < end, or None when nothing is stored."""

    @abstractmethod
    def save_data(
        self,
        symbol: str,
        timeframe: str,
        df: pd.DataFrame,
        *,
        covered_start=None,
        covered_end=None,
        source: str = "",
        updated_at=None,
    ) -> dict:
        """Merge ``df`` into what is stored (new rows win on equal timestamps); return metadata.

        ``covered_start``/``covered_end`` record the range that was asked of the provider, so
        a range with no bars (a weekend) still counts as complete. ``updated_at`` (default now)
        is the ``last_updated`` that freshness is judged by.
        """

    @abstractmethod
    def has_cached_data(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> bool:
        """True when the stored covered ranges contain [start, end)."""

    @abstractmethod
    def delete(self, symbol: str, timeframe: str) -> bool:
        """Remove a series; False when there was none."""

    @abstractmethod
    def list(self) -> list[dict]:
        """Metadata of every stored series."""

    @abstractmethod
    def metadata(self, symbol: str, timeframe: str) -> dict | None:
        """Stored range, rows, bytes, checksum and last update of a series, or None."""
