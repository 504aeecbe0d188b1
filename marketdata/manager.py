"""DataManager: the one place that turns (symbol, timeframe, range, source) into a clean frame.

No Django: settings come in as arguments (``marketdata.services.get_data_manager`` builds
the process's manager from settings), so benchmarks and tools can use it bare.

Lookup order:

1. L1, an in-process LRU bounded in bytes (``cache.FrameCache``). An entry is re-checked
   against the storage's checksum at most every ``l1_revalidate_seconds``, so a series
   another worker updated is not served stale for longer than that.
2. L2, storage (local Parquet or S3). A series knows which ranges it covers and when it was
   last updated. A request downloads only what is missing; for a live provider (Yahoo) a
   series older than ``ttl_seconds`` also re-downloads the recent part of the window (after
   the covered end minus the TTL), since the provider may have corrected its latest bars;
   older bars are history and are never fetched again.
3. The provider, through a circuit breaker, a per-provider throttle and retries with backoff
   for transient errors only. What comes back is normalised (UTC, float64, sorted,
   de-duplicated), validated (bad rows left out and reported), merged and saved once.

When the provider is unavailable (down, or its circuit open), whatever storage holds for
the window is served with a plain-language warning; with nothing cached the call fails with
``DataUnavailable`` (code ``DATA_UNAVAILABLE``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from qm_platform.errors import CodedError

from .cache import FrameCache
from .progress import checkpoint
from .providers import DataRangeUnavailable, ProviderError, ProviderUnavailable, SymbolNotFound
from .providers.synthetic import SyntheticProvider
from .reliability import CircuitBreaker, CircuitOpen, Throttle, call_with_retries
from .resample import can_resample, day_session_for, resample_ohlcv
from .storage.base import OHLCV, DataStorage, covered_ranges, empty_frame, missing_ranges, series_name, utc
from .timeframes import timeframe_seconds, utcnow
from .validation import validate_ohlcv

logger = logging.getLogger("qm.data")

PROVIDER_NAMES = {"yahoo": "Yahoo Finance", "synthetic": "the synthetic generator"}


class DataUnavailable(CodedError):
    """No data can be served. ``code`` is the API error code."""

    code = "DATA_UNAVAILABLE"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(code, message, details)


@dataclass
class LoadedData:
    frame: pd.DataFrame
    source: str
    from_cache: bool
    warnings: list[str] = field(default_factory=list)
    quality: dict | None = None  # the window's quality report (set by services)
    saved: bool = False  # storage changed during this call (Dataset row to update)


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """UTC DatetimeIndex named timestamp, float64 OHLCV, sorted, duplicates dropped (last wins)."""
    out = df[OHLCV].astype("float64")
    index = pd.DatetimeIndex(out.index)
    out.index = (
        (index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")).as_unit("ns").rename("timestamp")
    )
    out = out[~out.index.duplicated(keep="last")].sort_index()
    return out


def series_key(symbol: str, source: str) -> str:
    """The storage name of a provider's series: ``XAUUSD@yahoo``."""
    return f"{symbol.upper()}@{source}"


class DataManager:
    def __init__(
        self,
        storage: DataStorage,
        providers: dict | None = None,
        *,
        l1_bytes: int = 256 * 1024 * 1024,
        l1_revalidate_seconds: float = 1.0,
        ttl_seconds: float = 24 * 3600,
        breaker_failures: int = 3,
        breaker_cooldown_seconds: float = 300,
        retries: int = 2,
        backoff_seconds: float = 0.5,
        throttle_seconds: dict[str, float] | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.storage = storage
        self.providers = providers if providers is not None else {"synthetic": SyntheticProvider()}
        self.l1 = FrameCache(l1_bytes)
        self.l1_revalidate_seconds = l1_revalidate_seconds
        self.ttl = timedelta(seconds=ttl_seconds)
        self.retries, self.backoff = retries, backoff_seconds
        self.clock, self.sleep = clock, sleep
        self.breakers = {
            name: CircuitBreaker(PROVIDER_NAMES.get(name, name), breaker_failures, breaker_cooldown_seconds)
            for name in self.providers
        }
        throttle_seconds = throttle_seconds or {}
        self.throttles = {
            name: Throttle(throttle_seconds[name], sleep=sleep) for name in self.providers if throttle_seconds.get(name)
        }

    # ---- reading -------------------------------------------------------------------------
    def get_data(
        self,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        source: str = "synthetic",
        columns: Sequence[str] | None = None,
    ) -> LoadedData:
        """Bars with start <= timestamp < end from ``source``; see the module docstring."""
        symbol = symbol.upper()
        provider = self.providers.get(source)
        if provider is None:
            raise DataUnavailable(f"unknown data source {source!r}; available: {sorted(self.providers)}")
        start_ts, end_ts = utc(start), utc(end)
        cols = list(columns) if columns else list(OHLCV)
        key = series_key(symbol, source)
        now = utc(self.clock())
        live = getattr(provider, "live", False)

        hit = self._l1_get(key, timeframe, start_ts, end_ts, cols)
        if hit is not None and not self._plan(hit[1], start_ts, end_ts, live, now):
            return LoadedData(hit[0], source, from_cache=True)

        meta = self.storage.metadata(key, timeframe)
        plan = self._plan(meta, start_ts, end_ts, live, now)
        warnings: list[str] = []
        saved = False
        for a, b in plan:
            try:
                saved |= self._download_and_save(provider, source, symbol, timeframe, a, b, now, warnings)
            except (ProviderUnavailable, CircuitOpen) as exc:
                self._serve_stale_or_fail(exc, source, symbol, timeframe, start_ts, end_ts, meta, plan, warnings)
                break
            except DataRangeUnavailable as exc:
                raise DataUnavailable(exc.message, code="DATA_RANGE_UNAVAILABLE", details=exc.details) from exc
            except (SymbolNotFound, ProviderError) as exc:
                raise DataUnavailable(_short(exc.message, 400), details=exc.details) from exc
        if saved:
            checkpoint()
        meta = self.storage.metadata(key, timeframe) if saved else meta
        frame = self.storage.get_data(key, timeframe, start_ts, end_ts, columns=cols)  # column-pruned
        if frame is None:
            frame = empty_frame(cols)
        if meta is not None:
            self.l1.put((key.upper(), timeframe), frame, start_ts, end_ts, meta.get("checksum", ""), extra=meta)
            frame = frame.copy(deep=False)  # the caller's own object; copy-on-write keeps L1 intact
        return LoadedData(frame, source, from_cache=not saved, warnings=warnings, saved=saved)

    def get_stored(
        self,
        storage_key: str,
        timeframe: str,
        start: datetime | None,
        end: datetime | None,
        *,
        target_timeframe: str | None = None,
        symbol: str | None = None,
    ) -> pd.DataFrame | None:
        """A stored series (e.g. an uploaded dataset) for a window, through L1; aggregated to
        ``target_timeframe`` when that is a multiple of the stored one. None if not stored."""
        start_ts, end_ts = utc(start), utc(end)
        frame = None
        if start_ts is not None and end_ts is not None:
            hit = self._l1_get(storage_key, timeframe, start_ts, end_ts, list(OHLCV))
            frame = hit[0] if hit is not None else None
        if frame is None:
            meta = self.storage.metadata(storage_key, timeframe)
            if meta is None:
                return None
            frame = self.storage.get_data(storage_key, timeframe, start_ts, end_ts)
            if frame is None:
                return None
            if start_ts is not None and end_ts is not None:
                self.l1.put(
                    (storage_key.upper(), timeframe), frame, start_ts, end_ts, meta.get("checksum", ""), extra=meta
                )
                frame = frame.copy(deep=False)
        if target_timeframe and target_timeframe != timeframe:
            if not can_resample(timeframe, target_timeframe):
                raise DataUnavailable(
                    f"{timeframe} data cannot be turned into {target_timeframe} bars; only larger multiples can",
                    code="INVALID_REQUEST",
                )
            frame = resample_ohlcv(frame, target_timeframe, day_session=day_session_for(symbol or storage_key))
        return frame

    def _l1_get(self, key, timeframe, start, end, cols):
        def current_version():
            meta = self.storage.metadata(key, timeframe)
            return meta.get("checksum", "") if meta else None

        return self.l1.get(
            (key.upper(), timeframe),
            start,
            end,
            cols,
            revalidate_after=self.l1_revalidate_seconds,
            current_version=current_version,
            with_extra=True,
        )

    def _plan(
        self, meta: dict | None, start: pd.Timestamp, end: pd.Timestamp, live: bool, now: pd.Timestamp
    ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """The ranges to download for [start, end): the missing ones, plus, for a live provider
        whose series is older than the TTL, the recent part of the window."""
        covered = covered_ranges(meta)
        if live:
            end = min(end, now)  # the future cannot be downloaded
            if end <= start:
                return []
        todo = missing_ranges(covered, start, end)
        if live and meta and covered and self.ttl:
            age = now - utc(meta["last_updated"])
            if age > self.ttl:
                recent_from = max(start, covered[-1][1] - self.ttl)
                if recent_from < end:
                    todo.append((recent_from, end))
        todo.sort()
        merged: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        for a, b in todo:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return merged

    # ---- downloading ---------------------------------------------------------------------
    def _download_and_save(self, provider, source, symbol, timeframe, a, b, now, warnings) -> bool:
        name = PROVIDER_NAMES.get(source, source)
        raw = call_with_retries(
            lambda: provider.download(symbol, timeframe, a.to_pydatetime(), b.to_pydatetime()),
            breaker=self.breakers[source],
            throttle=self.throttles.get(source),
            retries=self.retries,
            backoff=self.backoff,
            sleep=self.sleep,
        )
        checkpoint()  # a cancel that came while the provider worked stops before the save
        covered_start = utc(raw.attrs.get("covered_start")) or a
        if raw.attrs.get("note"):
            warnings.append(raw.attrs["note"])
        frame = normalise(raw) if len(raw) else empty_frame()
        covered_end = b
        if getattr(provider, "live", False):
            # Only closed bars are stored: the bar that started at floor(now) is still moving.
            open_bar = now.floor(f"{timeframe_seconds(timeframe)}s")
            frame = frame[frame.index < open_bar]
            covered_end = min(b, open_bar)
        result = validate_ohlcv(frame, policy="repair")
        if result.dropped_rows:
            warnings.append(
                f"{name} sent {result.dropped_rows} bad {symbol} {timeframe} bar(s) that were left "
                f"out: {result.repaired[0]}"
            )
        if covered_end <= covered_start and not len(result.frame):
            return False
        self.storage.save_data(
            series_key(symbol, source),
            timeframe,
            result.frame,
            covered_start=covered_start,
            covered_end=max(covered_end, covered_start),
            source=source,
            updated_at=now,
        )
        logger.info("downloaded %s %s %s..%s from %s: %d rows", symbol, timeframe, a, b, source, len(result.frame))
        return True

    def _serve_stale_or_fail(self, exc, source, symbol, timeframe, start, end, meta, plan, warnings) -> None:
        """Called when the provider failed for a transient reason: warn if storage has
        anything for the window, else raise DataUnavailable."""
        name = PROVIDER_NAMES.get(source, source)
        reason = _short(exc.message if isinstance(exc, ProviderError) else str(exc))
        stored = self.storage.get_data(series_key(symbol, source), timeframe, start, end, columns=["close"])
        if stored is None or stored.empty:
            raise DataUnavailable(
                f"{name} is unavailable ({reason}) and no cached {symbol} {timeframe} data covers "
                f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC. Try again later, use dataSource "
                f"'synthetic', or upload the data as a CSV dataset.",
                details={"provider": source, "symbol": symbol, "timeframe": timeframe, **getattr(exc, "details", {})},
            ) from exc
        updated = utc(meta["last_updated"]) if meta and meta.get("last_updated") else None
        when = f" from {updated:%Y-%m-%d %H:%M} UTC" if updated is not None else ""
        missing = ", ".join(f"{a:%Y-%m-%d %H:%M} to {b:%Y-%m-%d %H:%M}" for a, b in plan[:3])
        warnings.append(
            f"Served cached data{when} because {name} was unavailable ({reason}); not refreshed: {missing} UTC."
        )
        logger.warning("serving stale %s %s from %s: %s", symbol, timeframe, source, reason)

    def refresh(
        self, symbol: str, timeframe: str, source: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> LoadedData:
        """Download the recent part of a provider series again (from its covered end minus the
        TTL, or ``start``) up to now, whatever its age."""
        key = series_key(symbol, source)
        meta = self.storage.metadata(key, timeframe)
        now = utc(self.clock())
        covered = covered_ranges(meta)
        if start is None:
            start = (covered[-1][1] - self.ttl) if covered else now - timedelta(days=30)
        end = end or now
        self.l1.discard((key.upper(), timeframe))
        provider = self.providers.get(source)
        if provider is None:
            raise DataUnavailable(f"unknown data source {source!r}; available: {sorted(self.providers)}")
        warnings: list[str] = []
        try:
            saved = self._download_and_save(
                provider, source, symbol.upper(), timeframe, utc(start), utc(end), now, warnings
            )
        except (ProviderUnavailable, CircuitOpen) as exc:
            raise DataUnavailable(
                f"{PROVIDER_NAMES.get(source, source)} is unavailable: {_short(exc)}",
                details=getattr(exc, "details", {}),
            ) from exc
        except DataRangeUnavailable as exc:
            raise DataUnavailable(exc.message, code="DATA_RANGE_UNAVAILABLE", details=exc.details) from exc
        except ProviderError as exc:
            raise DataUnavailable(exc.message, details=exc.details) from exc
        frame = self.storage.get_data(key, timeframe, utc(start), utc(end))
        return LoadedData(
            frame if frame is not None else empty_frame(), source, from_cache=False, warnings=warnings, saved=saved
        )

    # ---- writing uploads -----------------------------------------------------------------
    def save_frame(self, storage_key: str, timeframe: str, frame: pd.DataFrame, *, source: str) -> dict:
        """Store an already validated frame (an upload) under its own key."""
        series_name(storage_key, timeframe)
        meta = self.storage.save_data(
            storage_key,
            timeframe,
            normalise(frame),
            covered_start=frame.index[0],
            covered_end=frame.index[-1] + pd.Timedelta(seconds=timeframe_seconds(timeframe)),
            source=source,
            updated_at=self.clock(),
        )
        self.l1.discard((storage_key.upper(), timeframe))
        return meta

    def delete(self, storage_key: str, timeframe: str) -> bool:
        self.l1.discard((storage_key.upper(), timeframe))
        return self.storage.delete(storage_key, timeframe)

    # ---- clean-up ------------------------------------------------------------------------
    def cache_cleanup(self, *, max_bytes: int, protected_sources: Sequence[str] = ("csv",)) -> list[dict]:
        """Delete the least recently updated provider series until storage holds at most
        ``max_bytes``. Series whose source is protected (uploads: the only copy) are kept.
        Returns the metadata of what was removed."""
        metas = self.storage.list()
        total = sum(m.get("size_bytes", 0) for m in metas)
        candidates = sorted(
            (m for m in metas if m.get("source", "") not in protected_sources),
            key=lambda m: m.get("last_updated") or "",
        )
        removed = []
        while total > max_bytes and candidates:
            meta = candidates.pop(0)
            if self.delete(meta["symbol"], meta["timeframe"]):
                total -= meta.get("size_bytes", 0)
                removed.append(meta)
        self._cleanup_temp_files()
        return removed

    def clear_old_cache(self, days: float, *, protected_sources: Sequence[str] = ("csv",)) -> list[dict]:
        """Delete provider series not updated for ``days`` days (uploads are kept)."""
        cutoff = utc(self.clock()) - timedelta(days=days)
        removed = []
        for meta in self.storage.list():
            if meta.get("source", "") in protected_sources or not meta.get("last_updated"):
                continue
            if utc(meta["last_updated"]) < cutoff and self.delete(meta["symbol"], meta["timeframe"]):
                removed.append(meta)
        self._cleanup_temp_files()
        return removed

    def _cleanup_temp_files(self) -> None:
        cleanup = getattr(self.storage, "cleanup_temp_files", None)
        if cleanup is not None:
            cleanup()


def _short(text: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters (HTTP libraries put whole URLs in messages)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
