"""DataManager: the one place that turns (symbol, timeframe, range, source) into a clean frame.

It reads storage first and asks the provider only for what is missing, then normalises
(UTC index, float OHLCV, sorted, de-duplicated) and saves once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from .providers.synthetic import SyntheticProvider
from .storage.base import DataStorage

logger = logging.getLogger("qm.data")
OHLCV = ["open", "high", "low", "close", "volume"]


class DataUnavailable(Exception):
    code = "DATA_UNAVAILABLE"


@dataclass
class LoadedData:
    frame: pd.DataFrame
    source: str
    from_cache: bool
    warnings: list[str] = field(default_factory=list)


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """UTC DatetimeIndex named timestamp, float64 OHLCV, sorted, duplicates dropped (last wins)."""
    out = df[OHLCV].astype("float64")
    index = pd.DatetimeIndex(out.index)
    out.index = (index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")).rename("timestamp")
    out = out[~out.index.duplicated(keep="last")].sort_index()
    return out


class DataManager:
    def __init__(self, storage: DataStorage, providers: dict | None = None):
        self.storage = storage
        self.providers = providers or {"synthetic": SyntheticProvider()}

    def get_data(self, symbol: str, timeframe: str, start: datetime, end: datetime,
                 source: str = "synthetic") -> LoadedData:
        symbol = symbol.upper()
        provider = self.providers.get(source)
        if provider is None:
            raise DataUnavailable(f"unknown data source {source!r}; available: {sorted(self.providers)}")
        key = f"{symbol}@{source}"
        if self.storage.has_cached_data(key, timeframe, start, end):
            frame = self.storage.get_data(key, timeframe, start, end)
            return LoadedData(frame, source, from_cache=True)
        downloaded = provider.download(symbol, timeframe, start, end)
        frame = normalise(downloaded)
        if len(frame):
            self.storage.save_data(key, timeframe, frame, covered_start=start, covered_end=end, source=source)
        logger.info("downloaded %s %s %s..%s from %s: %d rows", symbol, timeframe, start, end, source, len(frame))
        return LoadedData(frame, source, from_cache=False)
