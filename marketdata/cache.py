"""L1: an in-process LRU of frames, bounded in bytes. No Django.

An entry is one series' frame over a loaded range, tagged with the storage checksum it was
read at. A request is a hit when an entry of the same series covers the requested range and
holds the requested columns; the answer is a slice of it, returned as a new frame that shares
memory under pandas' copy-on-write (a caller that modifies it gets its own copy, the cached
frame never changes).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd


@dataclass
class _Entry:
    frame: pd.DataFrame
    start: pd.Timestamp  # the range the frame is complete for, [start, end)
    end: pd.Timestamp
    version: str  # storage checksum when read
    nbytes: int
    checked_at: float  # monotonic time of the last version check
    extra: object = None  # the caller's note (the manager keeps the series metadata)


class FrameCache:
    """Thread-safe LRU bounded by the frames' memory (``max_bytes``; 0 disables it)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self,
        series: tuple,
        start: pd.Timestamp,
        end: pd.Timestamp,
        columns: list[str],
        *,
        revalidate_after: float | None = None,
        current_version=None,
        with_extra: bool = False,
    ):
        """A slice [start, end) with ``columns`` (with ``with_extra``: ``(slice, extra)``), or None.

        When the entry was last checked more than ``revalidate_after`` seconds ago,
        ``current_version()`` is asked for the storage's checksum; a different one evicts it.
        """
        with self._lock:
            entry = self._entries.get(series)
            if entry is None or entry.start > start or entry.end < end or not set(columns) <= set(entry.frame.columns):
                self.misses += 1
                return None
            self._entries.move_to_end(series)
        if (
            revalidate_after is not None
            and current_version is not None
            and time.monotonic() - entry.checked_at > revalidate_after
        ):
            if current_version() != entry.version:
                self.discard(series)
                self.misses += 1
                return None
            entry.checked_at = time.monotonic()
        self.hits += 1
        index = entry.frame.index
        lo, hi = index.searchsorted(start, "left"), index.searchsorted(end, "left")
        frame = entry.frame.iloc[lo:hi]
        if list(frame.columns) != list(columns):
            frame = frame[columns]
        return (frame, entry.extra) if with_extra else frame

    def put(
        self,
        series: tuple,
        frame: pd.DataFrame,
        start: pd.Timestamp,
        end: pd.Timestamp,
        version: str,
        *,
        extra: object = None,
    ) -> None:
        nbytes = int(frame.memory_usage(index=True, deep=False).sum())
        if self.max_bytes <= 0 or nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(series, None)
            if old is not None:
                self._bytes -= old.nbytes
                if (
                    old.version == version
                    and old.start <= start
                    and old.end >= end
                    and set(frame.columns) <= set(old.frame.columns)
                ):
                    frame, start, end, nbytes = old.frame, old.start, old.end, old.nbytes
            self._entries[series] = _Entry(frame, start, end, version, nbytes, time.monotonic(), extra)
            self._bytes += nbytes
            while self._bytes > self.max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes

    def discard(self, series: tuple) -> None:
        with self._lock:
            old = self._entries.pop(series, None)
            if old is not None:
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
