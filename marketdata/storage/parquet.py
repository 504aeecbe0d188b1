"""Partitioned Parquet series, shared by the local and S3 backends.

Layout under a root (a folder or a bucket prefix)::

    <SYMBOL>/<timeframe>/<year>/<month>.parquet    zstd, page checksums, sorted by timestamp
    <SYMBOL>/<timeframe>/metadata.json             ranges, rows, bytes, checksum, per-part stats

Reads open only the parts whose time range overlaps the request, and only the requested
columns. Each part is replaced whole and atomically (the backend's job), so a reader sees a
part either as it was or as it is now, never half of it. Writers of one series are serialised
by the backend's lock; a write merges into the parts it touches and then rewrites
``metadata.json``, whose per-part entries are reconciled with the parts actually present, so a
crash between the two loses nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
from abc import abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .base import (
    OHLCV,
    DataStorage,
    StorageError,
    covered_ranges,
    empty_frame,
    merge_ranges,
    missing_ranges,
    series_name,
    utc,
)

METADATA_VERSION = 2
SCHEMA = pa.schema([("timestamp", pa.timestamp("ns", tz="UTC"))] + [(c, pa.float64()) for c in OHLCV])


class PartitionedParquetStorage(DataStorage):
    """The storage logic; subclasses provide bytes in, bytes out, listing and a lock."""

    # ---- backend primitives (keys are relative, '/'-separated) -------------------------
    @abstractmethod
    def _read_bytes(self, key: str) -> bytes | None: ...

    @abstractmethod
    def _write_bytes(self, key: str, data: bytes) -> None:
        """Replace the object atomically: readers see the old bytes or the new, never a mix."""

    @abstractmethod
    def _read_parquet(self, key: str, columns: list[str]) -> pa.Table | None: ...

    @abstractmethod
    def _list_keys(self, prefix: str) -> list[str]: ...

    @abstractmethod
    def _delete_keys(self, keys: list[str]) -> None: ...

    @abstractmethod
    def _lock(self, series: str) -> contextlib.AbstractContextManager: ...

    # ---- interface -----------------------------------------------------------------------
    def metadata(self, symbol: str, timeframe: str) -> dict | None:
        series = "/".join(series_name(symbol, timeframe))
        return self._read_meta(series)

    def has_cached_data(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> bool:
        meta = self.metadata(symbol, timeframe)
        if not meta:
            return False
        return not missing_ranges(covered_ranges(meta), utc(start), utc(end))

    def get_data(self, symbol, timeframe, start=None, end=None, columns: Sequence[str] | None = None):
        cols = list(columns) if columns else list(OHLCV)
        bad = [c for c in cols if c not in OHLCV]
        if bad:
            raise StorageError(f"unknown columns {bad}; stored columns are {OHLCV}")
        series = "/".join(series_name(symbol, timeframe))
        meta = self._read_meta(series)
        if meta is None:
            return None
        start_ts, end_ts = utc(start), utc(end)
        wanted = [
            key
            for key, part in sorted(meta.get("parts", {}).items())
            if (start_ts is None or utc(part["last"]) >= start_ts) and (end_ts is None or utc(part["first"]) < end_ts)
        ]
        if not wanted:
            return empty_frame(cols)
        keys = [f"{series}/{part}.parquet" for part in wanted]
        columns = ["timestamp", *cols]
        if len(keys) > 1:  # Arrow releases the GIL: parts decode (or download) in parallel
            tables = list(_pool().map(lambda key: self._read_parquet(key, columns), keys))
        else:
            tables = [self._read_parquet(keys[0], columns)]
        if any(table is None for table in tables):  # deleted while we read: the series is going away
            return None
        return _to_frame(pa.concat_tables(tables) if len(tables) > 1 else tables[0], cols, start_ts, end_ts)

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
        if not isinstance(df.index, pd.DatetimeIndex) or df.index.tz is None:
            raise StorageError("save_data needs a timezone-aware DatetimeIndex")
        missing = [c for c in OHLCV if c not in df.columns]
        if missing:
            raise StorageError(f"save_data needs the columns {OHLCV}; missing {missing}")
        name, tf = series_name(symbol, timeframe)
        series = f"{name}/{tf}"
        new = df[OHLCV].astype("float64")
        new.index = pd.DatetimeIndex(new.index).tz_convert("UTC").as_unit("ns").rename("timestamp")
        new = new[~new.index.duplicated(keep="last")].sort_index()
        try:
            with self._lock(series):
                meta = self._read_meta(series) or {}
                parts = self._reconcile_parts(series, dict(meta.get("parts", {})))
                for (year, month), chunk in new.groupby([new.index.year, new.index.month]):
                    part = f"{year:04d}/{month:02d}"
                    key = f"{series}/{part}.parquet"
                    if part in parts:
                        old = self._read_parquet(key, ["timestamp", *OHLCV])
                        if old is not None and old.num_rows:
                            old_df = _to_frame(old, OHLCV, None, None)
                            chunk = pd.concat([old_df[~old_df.index.isin(chunk.index)], chunk]).sort_index()
                    parts[part] = self._write_part(key, chunk)
                ranges = covered_ranges(meta)
                cs, ce = utc(covered_start), utc(covered_end)
                if cs is None and len(new):
                    cs = new.index[0]
                if ce is None and len(new):
                    ce = new.index[-1] + pd.Timedelta(seconds=1)
                if cs is not None and ce is not None:
                    ranges.append((cs, ce))
                meta = self._build_meta(
                    name,
                    tf,
                    parts,
                    merge_ranges(ranges),
                    source or meta.get("source", ""),
                    utc(updated_at) if updated_at is not None else None,
                )
                self._write_bytes(f"{series}/metadata.json", json.dumps(meta, indent=1).encode())
        except StorageError:
            raise
        except Exception as exc:  # lock time-outs, OS and Arrow errors
            raise StorageError(f"cannot save {name} {tf}: {type(exc).__name__}: {exc}") from exc
        return meta

    def delete(self, symbol: str, timeframe: str) -> bool:
        series = "/".join(series_name(symbol, timeframe))
        try:
            with self._lock(series):
                keys = self._list_keys(f"{series}/")
                if not keys:
                    return False
                # metadata first: once it is gone, readers treat the series as missing.
                keys.sort(key=lambda k: not k.endswith("metadata.json"))
                self._delete_keys(keys)
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"cannot delete {series}: {exc}") from exc
        return True

    def list(self) -> list[dict]:
        out = []
        for key in self._list_keys(""):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == "metadata.json":
                meta = self._read_meta(f"{parts[0]}/{parts[1]}")
                if meta is not None:
                    out.append(meta)
        return sorted(out, key=lambda m: (m["symbol"], m["timeframe"]))

    # ---- internals -----------------------------------------------------------------------
    def _read_meta(self, series: str) -> dict | None:
        raw = self._read_bytes(f"{series}/metadata.json")
        if raw is None:
            return None
        try:
            meta = json.loads(raw)
        except ValueError as exc:
            raise StorageError(f"corrupt metadata for {series}: {exc}") from exc
        if meta.get("version") != METADATA_VERSION:
            meta = _upgrade_v1(meta)
            meta["parts"] = self._reconcile_parts(series, {})
        return meta

    def _write_part(self, key: str, chunk: pd.DataFrame) -> dict:
        table = pa.Table.from_arrays(
            [pa.array(chunk.index.as_unit("ns"), type=SCHEMA.field("timestamp").type)]
            + [pa.array(chunk[c].to_numpy(dtype="float64")) for c in OHLCV],
            schema=SCHEMA,
        )
        sink = io.BytesIO()
        # Timestamps are evenly spaced: delta encoding stores them in a few bits and decodes fast.
        pq.write_table(
            table,
            sink,
            compression="zstd",
            write_page_checksum=True,
            write_statistics=True,
            use_dictionary=False,
            column_encoding={"timestamp": "DELTA_BINARY_PACKED"},
        )
        data = sink.getvalue()
        self._write_bytes(key, data)
        return {
            "rows": len(chunk),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "first": chunk.index[0].isoformat(),
            "last": chunk.index[-1].isoformat(),
        }

    def _reconcile_parts(self, series: str, parts: dict) -> dict:
        """Parts on storage that the metadata does not know (a crash after a part was written
        and before metadata.json was) are added back from their Parquet footers."""
        present = {}
        for key in self._list_keys(f"{series}/"):
            rel = key[len(series) + 1 :]
            pieces = rel.split("/")
            if len(pieces) == 2 and pieces[1].endswith(".parquet") and pieces[0].isdigit():
                present[rel[: -len(".parquet")]] = key
        out = {p: info for p, info in parts.items() if p in present}
        for part, key in present.items():
            if part in out:
                continue
            raw = self._read_bytes(key)
            if raw is None:
                continue
            try:
                table = pq.read_table(io.BytesIO(raw), columns=["timestamp"])
            except (OSError, pa.ArrowException):
                continue  # unreadable: it will be overwritten if this write touches its month
            if table.num_rows:
                ts = table.column("timestamp").to_pandas()
                out[part] = {
                    "rows": table.num_rows,
                    "bytes": len(raw),
                    "sha256": hashlib.sha256(raw).hexdigest(),
                    "first": utc(ts.iloc[0]).isoformat(),
                    "last": utc(ts.iloc[-1]).isoformat(),
                }
        return out

    @staticmethod
    def _build_meta(name: str, tf: str, parts: dict, ranges, source: str, updated_at=None) -> dict:
        ordered = sorted(parts.items())
        digest = hashlib.sha256("".join(f"{p}:{i['sha256']}\n" for p, i in ordered).encode()).hexdigest()
        return {
            "version": METADATA_VERSION,
            "symbol": name,
            "timeframe": tf,
            "source": source,
            "rows": sum(i["rows"] for _, i in ordered),
            "size_bytes": sum(i["bytes"] for _, i in ordered),
            "start": ordered[0][1]["first"] if ordered else None,
            "end": ordered[-1][1]["last"] if ordered else None,
            "covered": [[s.isoformat(), e.isoformat()] for s, e in ranges],
            "covered_start": ranges[0][0].isoformat() if ranges else None,
            "covered_end": ranges[-1][1].isoformat() if ranges else None,
            "checksum": digest,
            "parts": dict(ordered),
            "last_updated": (updated_at or datetime.now(UTC)).isoformat(),
        }


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2), thread_name_prefix="qm-parquet")
        return _POOL


def _to_frame(table: pa.Table, cols: list[str], start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    ts = table.column("timestamp").to_numpy()  # datetime64[ns], UTC wall time
    lo = 0 if start is None else int(np.searchsorted(ts, start.tz_localize(None).to_datetime64(), "left"))
    hi = len(ts) if end is None else int(np.searchsorted(ts, end.tz_localize(None).to_datetime64(), "left"))
    index = pd.DatetimeIndex(ts[lo:hi], name="timestamp").tz_localize("UTC")
    # One copy into a writable 2-D block: Arrow's buffers are read-only, and callers may write.
    data = {c: table.column(c).to_numpy()[lo:hi] for c in cols}
    return pd.DataFrame(data, index=index, columns=cols, copy=True)


def _upgrade_v1(meta: dict) -> dict:
    """Metadata written by the first local storage (no per-part entries): readable, and the
    next save rebuilds it from the parts."""
    meta = dict(meta)
    meta.setdefault(
        "covered",
        [[meta["covered_start"], meta["covered_end"]]] if meta.get("covered_start") and meta.get("covered_end") else [],
    )
    meta.setdefault("checksum", "")
    return meta
