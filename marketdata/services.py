"""Market data writes: loading a run's data, importing CSV uploads, refreshing and cleaning the
cache, and keeping the Dataset rows in step with storage."""

from __future__ import annotations

import io
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from typing import BinaryIO

import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketdata.manager import DataManager, DataUnavailable, LoadedData, series_key
from marketdata.models import Dataset
from marketdata.progress import checkpoint
from marketdata.providers.csv import parse_csv
from marketdata.storage import StorageError
from marketdata.storage.base import empty_frame, utc
from marketdata.timeframes import timeframe_seconds, utcnow
from marketdata.validation import quality_report, quality_summary
from qm_platform.errors import CodedError
from qm_platform.uploads import MB, file_too_large

logger = logging.getLogger("qm.data")

QUALITY_WARNING_BELOW = 95  # a run's warnings mention data quality below this score
QUALITY_MAX_ROWS = 1_000_000  # a dataset's report covers at most its latest this many bars
SHARED_SOURCES = ("synthetic", "yahoo")

_manager: DataManager | None = None
_manager_config: tuple | None = None
_manager_lock = threading.Lock()


# ---- the process's manager ------------------------------------------------------------------


def _config() -> tuple:
    return (
        settings.QM_STORAGE_BACKEND,
        str(settings.QM_DATA_DIR),
        settings.QM_S3_BUCKET,
        settings.QM_S3_PREFIX,
        settings.QM_S3_ENDPOINT_URL,
        settings.QM_DATA_L1_MAX_MB,
        settings.QM_DATA_TTL_HOURS,
    )


def build_storage():
    if settings.QM_STORAGE_BACKEND == "s3":
        from marketdata.storage.s3 import S3Storage

        return S3Storage(
            bucket=settings.QM_S3_BUCKET,
            prefix=settings.QM_S3_PREFIX,
            endpoint_url=settings.QM_S3_ENDPOINT_URL,
            region=settings.QM_S3_REGION,
            access_key_id=settings.QM_S3_ACCESS_KEY_ID,
            secret_access_key=settings.QM_S3_SECRET_ACCESS_KEY,
            sse=settings.QM_S3_SSE,
            sse_kms_key_id=settings.QM_S3_SSE_KMS_KEY_ID,
            create_bucket=settings.QM_S3_CREATE_BUCKET,
        )
    from marketdata.storage import LocalStorage

    return LocalStorage(settings.QM_DATA_DIR)


def build_providers() -> dict:
    from marketdata.providers.synthetic import SyntheticProvider
    from marketdata.providers.yahoo import YahooProvider

    return {
        "synthetic": SyntheticProvider(),
        "yahoo": YahooProvider(timeout=settings.QM_YAHOO_TIMEOUT_SECONDS, cache_dir=str(settings.VAR_DIR / "yfinance")),
    }


def get_data_manager() -> DataManager:
    """One manager per process (its storage handle, L1 and circuit breakers are reused across
    runs); rebuilt when the settings it depends on change."""
    global _manager, _manager_config
    config = _config()
    with _manager_lock:
        if _manager is None or _manager_config != config:
            _manager = DataManager(
                build_storage(),
                build_providers(),
                l1_bytes=settings.QM_DATA_L1_MAX_MB * 1024 * 1024,
                l1_revalidate_seconds=settings.QM_DATA_L1_REVALIDATE_SECONDS,
                ttl_seconds=settings.QM_DATA_TTL_HOURS * 3600,
                breaker_failures=settings.QM_DATA_BREAKER_FAILURES,
                breaker_cooldown_seconds=settings.QM_DATA_BREAKER_COOLDOWN_SECONDS,
                retries=settings.QM_DATA_RETRIES,
                backoff_seconds=settings.QM_DATA_RETRY_BACKOFF_MS / 1000,
                throttle_seconds={"yahoo": settings.QM_YAHOO_MIN_INTERVAL_MS / 1000},
            )
            _manager_config = config
        return _manager


def set_data_manager(manager: DataManager | None) -> None:
    """Install a manager for this process (tests, tools); None rebuilds it from settings."""
    global _manager, _manager_config
    with _manager_lock:
        _manager = manager
        _manager_config = _config() if manager is not None else None


# ---- runs -----------------------------------------------------------------------------------


def market_data_load(*, run, symbol: str | None = None) -> LoadedData:
    """The data a run asked for, with its quality report and plain-language warnings; ``symbol``:
    one market of a portfolio run (default: the run's market).

    Raises CodedError: DATA_UNAVAILABLE (provider down with nothing cached, storage
    failure, deleted dataset), DATA_RANGE_UNAVAILABLE, INSUFFICIENT_DATA.
    """
    market = symbol or run.market
    try:
        manager = get_data_manager()
        if run.data_source.startswith("dataset:"):
            loaded = _load_dataset(manager, run)
        else:
            loaded = manager.get_data(
                market, run.timeframe, run.warmup_start or run.data_start, run.data_end, run.data_source
            )
            if loaded.saved:
                checkpoint()
                dataset_record(symbol=market, timeframe=run.timeframe, source=run.data_source)
    except StorageError as exc:
        raise CodedError("DATA_UNAVAILABLE", f"market data storage failed: {exc}") from exc
    if len(loaded.frame) < 2:
        raise CodedError(
            "INSUFFICIENT_DATA",
            f"no {market} {run.timeframe} data between {run.data_start:%Y-%m-%d %H:%M} and "
            f"{run.data_end:%Y-%m-%d %H:%M} UTC ({len(loaded.frame)} bars)",
        )
    checkpoint()
    loaded.quality = quality_report(
        loaded.frame,
        symbol=market,
        timeframe=run.timeframe,
        start=run.data_start,
        end=_window_end(run, loaded.frame),
    )
    if loaded.quality["completeness_score"] < QUALITY_WARNING_BELOW or loaded.quality["anomalies"]["spike_count"]:
        loaded.warnings.append(quality_summary(loaded.quality))
    return loaded


def market_data_load_closes(*, symbol: str, timeframe: str, start, end, source: str) -> tuple[pd.Series, list[str]]:
    """The closes of another series over a run's window (its benchmark): ``source`` is
    ``synthetic``, ``yahoo`` or ``dataset:<id>``; (closes on a UTC index, warnings). Only the
    close column is read. Raises CodedError (DATA_UNAVAILABLE and friends) when there is nothing
    to compare with."""
    manager = get_data_manager()
    try:
        if source.startswith("dataset:"):
            dataset = Dataset.objects.filter(id=int(source.split(":", 1)[1])).first()
            if dataset is None:
                raise CodedError("DATA_UNAVAILABLE", "the benchmark's dataset was deleted")
            frame = manager.get_stored(
                dataset.storage_key, dataset.timeframe, start, end, target_timeframe=timeframe, symbol=dataset.symbol
            )
            warnings: list[str] = []
        else:
            loaded = manager.get_data(symbol, timeframe, start, end, source, columns=["close"])
            frame, warnings = loaded.frame, loaded.warnings
            if loaded.saved:
                dataset_record(symbol=symbol, timeframe=timeframe, source=source)
    except StorageError as exc:
        raise CodedError("DATA_UNAVAILABLE", f"market data storage failed: {exc}") from exc
    if frame is None or len(frame) < 2:
        raise CodedError("INSUFFICIENT_DATA", f"no {symbol} {timeframe} data to compare with in the run's window")
    return frame["close"], warnings


def market_data_load_finer(*, run, timeframe: str) -> tuple[pd.DataFrame | None, str | None]:
    """The bar magnifier's data: ``run``'s market in the finer ``timeframe`` over its window
    (from the same source; a dataset serves it when its bars are fine enough). Never fails the
    run: without the data it answers (None, a warning) and the engine falls back to
    sameBarPolicy."""
    start = run.warmup_start or run.data_start
    try:
        manager = get_data_manager()
        if run.data_source.startswith("dataset:"):
            from marketdata.resample import can_resample

            dataset = Dataset.objects.filter(id=int(run.data_source.split(":", 1)[1])).first()
            if dataset is None or not can_resample(dataset.timeframe, timeframe):
                held = dataset.timeframe if dataset else "no"
                return None, f"The dataset holds {held} bars, not {timeframe} or finer, for the bar magnifier."
            frame = manager.get_stored(
                dataset.storage_key,
                dataset.timeframe,
                start,
                run.data_end,
                target_timeframe=timeframe,
                symbol=dataset.symbol,
            )
        else:
            frame = manager.get_data(run.market, timeframe, start, run.data_end, run.data_source).frame
    except (CodedError, DataUnavailable, StorageError) as exc:
        return None, f"No {timeframe} bars for the bar magnifier ({exc})."
    if frame is None or frame.empty:
        return None, f"No {timeframe} bars for the bar magnifier."
    return frame, None


def _window_end(run, frame: pd.DataFrame):
    """A window that reaches into the future is judged up to the last closed bar."""
    now = pd.Timestamp(utcnow())
    end = min(pd.Timestamp(run.data_end), now.floor(f"{timeframe_seconds(run.timeframe)}s"))
    return max(end, frame.index[-1] + pd.Timedelta(seconds=timeframe_seconds(run.timeframe)))


def _load_dataset(manager: DataManager, run) -> LoadedData:
    dataset = Dataset.objects.filter(id=int(run.data_source.split(":", 1)[1])).first()
    if dataset is None:
        raise CodedError("DATA_UNAVAILABLE", "the dataset this run used was deleted")
    frame = manager.get_stored(
        dataset.storage_key,
        dataset.timeframe,
        run.warmup_start or run.data_start,
        run.data_end,
        target_timeframe=run.timeframe,
        symbol=dataset.symbol,
    )
    warnings = []
    if frame is None:
        raise CodedError("DATA_UNAVAILABLE", f"the stored data of dataset {dataset.id} is missing")
    if run.timeframe != dataset.timeframe:
        warnings.append(f"Built {run.timeframe} bars from the {dataset.timeframe} bars of dataset {dataset.id}.")
    return LoadedData(frame, f"dataset:{dataset.id}", True, warnings)


def market_data_cached_frame(*, symbol: str, timeframe: str, start, end, source: str):
    """The stored frame for a window, or None if storage does not fully cover it. Never
    downloads. Used by backtests.services for the result cache (is the data unchanged?)."""
    try:
        manager = get_data_manager()
        if source.startswith("dataset:"):
            dataset = Dataset.objects.filter(id=int(source.split(":", 1)[1])).first()
            if dataset is None:
                return None
            return manager.get_stored(
                dataset.storage_key, dataset.timeframe, start, end, target_timeframe=timeframe, symbol=dataset.symbol
            )
        key = series_key(symbol, source)
        if not manager.storage.has_cached_data(key, timeframe, start, end):
            return None
        return manager.get_stored(key, timeframe, start, end)
    except (StorageError, DataUnavailable):
        return None


# ---- Dataset rows ---------------------------------------------------------------------------


def _dataset_fields(manager: DataManager, storage_key: str, timeframe: str, symbol: str, meta: dict) -> dict:
    frame = manager.storage.get_data(storage_key, timeframe)
    if frame is None:
        frame = empty_frame()
    if len(frame) > QUALITY_MAX_ROWS:
        frame = frame.iloc[-QUALITY_MAX_ROWS:]
    checkpoint()
    start = utc(meta["covered_start"]) if meta.get("covered_start") else None
    if start is not None and len(frame):
        start = max(start, frame.index[0])
    report = quality_report(
        frame,
        symbol=symbol,
        timeframe=timeframe,
        start=start,
        end=utc(meta["covered_end"]) if meta.get("covered_end") else None,
    )
    return {
        "start": utc(meta["start"]).to_pydatetime(),
        "end": utc(meta["end"]).to_pydatetime(),
        "rows": meta["rows"],
        "bytes": meta["size_bytes"],
        "storage_key": storage_key.upper(),
        "checksum": meta.get("checksum", ""),
        "quality_report": report,
        "last_updated": timezone.now(),
    }


def dataset_record(*, symbol: str, timeframe: str, source: str) -> Dataset | None:
    """Create or update the shared Dataset row of a provider series from its storage metadata
    and a fresh quality report."""
    manager = get_data_manager()
    key = series_key(symbol, source)
    meta = manager.storage.metadata(key, timeframe)
    if not meta or not meta.get("rows"):
        return None
    fields = _dataset_fields(manager, key, timeframe, symbol.upper(), meta)
    for _ in range(2):  # two workers may create the same row at once
        try:
            dataset, _ = Dataset.objects.update_or_create(
                symbol=symbol.upper(), timeframe=timeframe, source=source, owner=None, defaults=fields
            )
            return dataset
        except IntegrityError:
            continue
    return Dataset.objects.filter(symbol=symbol.upper(), timeframe=timeframe, source=source, owner=None).first()


@dataclass
class ImportResult:
    dataset: Dataset
    notes: list[str]


def dataset_upload_max_bytes() -> int:
    """The largest CSV upload, in bytes (``QM_CSV_MAX_UPLOAD_MB``)."""
    return settings.QM_CSV_MAX_UPLOAD_MB * MB


def _read_bounded(data: bytes | BinaryIO, limit: int) -> bytes:
    """The upload's bytes, refused (FILE_TOO_LARGE) by its size before it is read, and read no
    further than one byte past the limit when its size is unknown or wrong."""
    if isinstance(data, bytes):
        if len(data) > limit:
            raise file_too_large(limit, len(data))
        return data
    size = getattr(data, "size", None)  # Django's UploadedFile
    if size is None:
        try:
            size = os.fstat(data.fileno()).st_size
        except (AttributeError, OSError, io.UnsupportedOperation):
            size = None
    if size is not None and size > limit:
        raise file_too_large(limit, size)
    content = data.read(limit + 1)
    if len(content) > limit:
        raise file_too_large(limit)
    return content


def dataset_import_csv(
    *,
    user,
    data: bytes | BinaryIO,
    symbol: str,
    timeframe: str | None = None,
    tz: str | None = None,
    policy: str = "reject",
    name: str = "",
) -> ImportResult:
    """Validate a CSV of bars (bytes, or a file such as an upload) and store it as a new
    dataset owned by ``user``.

    Raises CodedError FILE_TOO_LARGE (413) over ``QM_CSV_MAX_UPLOAD_MB``, judged by the file's
    size before it is read; INVALID_DATA (400) listing the first problems by line, the header's
    (too many columns, missing ones) before any row is parsed; then nothing is stored.
    ``policy="repair"`` sorts, drops duplicates and leaves out bad rows (reported in the quality
    report) instead of refusing the file.
    """
    content = _read_bounded(data, dataset_upload_max_bytes())
    parsed = parse_csv(content, tz=tz, timeframe=timeframe, policy=policy)
    symbol = symbol.upper()
    storage_key = f"{symbol}@csv-{uuid.uuid4().hex[:12]}"
    manager = get_data_manager()
    try:
        meta = manager.save_frame(storage_key, parsed.timeframe, parsed.frame, source="csv")
        fields = _dataset_fields(manager, storage_key, parsed.timeframe, symbol, meta)
    except StorageError as exc:
        raise CodedError("STORAGE_ERROR", f"the dataset could not be stored: {exc}") from exc
    fields["quality_report"]["anomalies"]["problems"] = parsed.problems[:20]
    fields["quality_report"]["anomalies"]["problem_count"] = len(parsed.problems)
    fields["quality_report"]["anomalies"]["repaired"] = parsed.repaired
    try:
        with transaction.atomic():
            dataset = Dataset.objects.create(
                symbol=symbol, timeframe=parsed.timeframe, source="csv", owner=user, name=name[:200], **fields
            )
    except Exception:
        manager.delete(storage_key, parsed.timeframe)  # no row, no orphan data
        raise
    logger.info("dataset %s imported: %s %s, %d rows", dataset.id, symbol, parsed.timeframe, dataset.rows)
    return ImportResult(dataset, parsed.repaired)


def dataset_fetch(*, symbol: str, timeframe: str, source: str, start, end) -> tuple[Dataset | None, LoadedData]:
    """Download (or top up) a provider series for [start, end) and record it."""
    try:
        loaded = get_data_manager().get_data(symbol, timeframe, start, end, source)
    except StorageError as exc:
        raise CodedError("DATA_UNAVAILABLE", f"market data storage failed: {exc}") from exc
    dataset = dataset_record(symbol=symbol, timeframe=timeframe, source=source)
    return dataset, loaded


def dataset_refresh(*, dataset: Dataset) -> tuple[Dataset, list[str]]:
    """Download a provider dataset's recent bars again, up to now. Uploads cannot be refreshed."""
    if dataset.source not in SHARED_SOURCES:
        raise CodedError(
            "INVALID_STATE",
            f"dataset {dataset.id} was uploaded ({dataset.source}); upload a new file to change it",
            details={"source": dataset.source},
        )
    try:
        loaded = get_data_manager().refresh(dataset.symbol, dataset.timeframe, dataset.source)
    except StorageError as exc:
        raise CodedError("DATA_UNAVAILABLE", f"market data storage failed: {exc}") from exc
    updated = dataset_record(symbol=dataset.symbol, timeframe=dataset.timeframe, source=dataset.source) or dataset
    return updated, loaded.warnings


def dataset_cache_cleanup(*, max_bytes: int | None = None, older_than_days: float | None = None) -> list[dict]:
    """Evict provider series older than ``older_than_days`` and then the least recently
    updated ones until the cache is at most ``max_bytes`` (default QM_MAX_CACHE_SIZE_GB).
    Uploads are never evicted. Their Dataset rows go with them. Returns what was removed."""
    manager = get_data_manager()
    removed = []
    if older_than_days is not None:
        removed += manager.clear_old_cache(older_than_days)
    if max_bytes is None:
        max_bytes = int(settings.QM_MAX_CACHE_SIZE_GB * 1024**3)
    removed += manager.cache_cleanup(max_bytes=max_bytes)
    for meta in removed:
        Dataset.objects.filter(storage_key=meta["symbol"], timeframe=meta["timeframe"], owner=None).delete()
    return removed


def dataset_delete(*, dataset: Dataset) -> None:
    get_data_manager().delete(dataset.storage_key, dataset.timeframe)
    dataset.delete()


def dataset_delete_for_user(*, user) -> dict[str, int]:
    """Delete the user's uploaded datasets and their stored bars (registered in accounts.privacy
    for account deletion); each one's data goes before its row."""
    count = 0
    for dataset in Dataset.objects.filter(owner=user).order_by("id"):
        dataset_delete(dataset=dataset)
        count += 1
    return {"datasets": count}
