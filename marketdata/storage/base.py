"""The storage interface from the original report, kept small.

A missing object returns ``None`` (or ``False``); any other failure raises ``StorageError``.
Frames are OHLCV with a UTC ``DatetimeIndex`` named ``timestamp``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Sequence

import pandas as pd


class StorageError(Exception):
    """A storage operation failed for a reason other than 'not there'."""


class DataStorage(ABC):
    @abstractmethod
    def get_data(self, symbol: str, timeframe: str, start: datetime | None = None,
                 end: datetime | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        """Rows with start <= timestamp < end, or None when nothing is stored."""

    @abstractmethod
    def save_data(self, symbol: str, timeframe: str, df: pd.DataFrame) -> dict:
        """Merge ``df`` into what is stored (new rows win on equal timestamps); return metadata."""

    @abstractmethod
    def has_cached_data(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> bool:
        """True when the stored range covers [start, end)."""

    @abstractmethod
    def delete(self, symbol: str, timeframe: str) -> bool:
        """Remove a series; False when there was none."""

    @abstractmethod
    def list(self) -> list[dict]:
        """Metadata of every stored series."""

    @abstractmethod
    def metadata(self, symbol: str, timeframe: str) -> dict | None:
        """Stored range, rows, bytes and last update of a series, or None."""
