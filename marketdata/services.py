"""Loading a run's market data and recording what is stored (Dataset rows)."""
from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from marketdata.manager import DataManager, DataUnavailable, LoadedData
from marketdata.models import Dataset
from marketdata.storage import LocalStorage, StorageError
from qm_platform.errors import ApplicationError

_manager: DataManager | None = None


def get_data_manager() -> DataManager:
    """One manager per process (its storage handle and caches are reused across runs)."""
    global _manager
    if _manager is None or _manager.storage.root != settings.QM_DATA_DIR:
        _manager = DataManager(LocalStorage(settings.QM_DATA_DIR))
    return _manager


def market_data_load(*, run) -> LoadedData:
    """The data a run asked for. Raises ApplicationError (DATA_UNAVAILABLE, INSUFFICIENT_DATA)."""
    manager = get_data_manager()
    try:
        if run.data_source.startswith("dataset:"):
            dataset = Dataset.objects.filter(id=int(run.data_source.split(":", 1)[1])).first()
            if dataset is None:
                raise ApplicationError("DATA_UNAVAILABLE", "the dataset this run used was deleted")
            frame = manager.storage.get_data(dataset.storage_key, dataset.timeframe, run.data_start, run.data_end)
            loaded = LoadedData(frame if frame is not None else manager_empty(), f"dataset:{dataset.id}", True)
        else:
            loaded = manager.get_data(run.market, run.timeframe, run.data_start, run.data_end, run.data_source)
            if not loaded.from_cache:
                dataset_record(symbol=run.market, timeframe=run.timeframe, source=run.data_source)
    except DataUnavailable as exc:
        raise ApplicationError("DATA_UNAVAILABLE", str(exc)) from exc
    except StorageError as exc:
        raise ApplicationError("DATA_UNAVAILABLE", f"market data storage failed: {exc}") from exc
    if len(loaded.frame) < 2:
        raise ApplicationError("INSUFFICIENT_DATA",
                               f"no {run.market} {run.timeframe} data between {run.data_start:%Y-%m-%d %H:%M} and "
                               f"{run.data_end:%Y-%m-%d %H:%M} UTC ({len(loaded.frame)} bars)")
    return loaded


def manager_empty():
    from marketdata.storage.local import _empty
    return _empty(["open", "high", "low", "close", "volume"])


def dataset_record(*, symbol: str, timeframe: str, source: str) -> Dataset | None:
    """Create or refresh the Dataset row from the storage metadata of a series."""
    key = f"{symbol.upper()}@{source}"
    meta = get_data_manager().storage.metadata(key, timeframe)
    if not meta or not meta.get("rows"):
        return None
    dataset, _ = Dataset.objects.update_or_create(
        symbol=symbol.upper(), timeframe=timeframe, source=source,
        defaults={"start": meta["start"], "end": meta["end"], "rows": meta["rows"],
                  "bytes": meta["size_bytes"], "storage_key": key,
                  "checksum": "", "last_updated": timezone.now()})
    return dataset


def market_data_cached_frame(*, symbol: str, timeframe: str, start, end, source: str):
    """The stored frame for a window, or None if storage does not fully cover it. Never
    downloads. Used by backtests.services for the result cache (is the data unchanged?)."""
    manager = get_data_manager()
    try:
        if source.startswith("dataset:"):
            dataset = Dataset.objects.filter(id=int(source.split(":", 1)[1])).first()
            if dataset is None:
                return None
            return manager.storage.get_data(dataset.storage_key, dataset.timeframe, start, end)
        key = f"{symbol.upper()}@{source}"
        if not manager.storage.has_cached_data(key, timeframe, start, end):
            return None
        return manager.storage.get_data(key, timeframe, start, end)
    except StorageError:
        return None
