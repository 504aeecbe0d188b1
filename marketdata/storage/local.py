"""Local Parquet storage, partitioned ``<root>/<SYMBOL>/<timeframe>/<year>/<month>.parquet``.

zstd-compressed; reads open only the month files that overlap the requested range and only
the requested columns. Writes go to a temporary file renamed into place (atomic on POSIX)
under a per-series file lock, so worker processes never see half a file and a crash mid-write
leaves the previous data intact. ``metadata.json`` per series lets a worker check freshness
without opening Parquet.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from .base import DataStorage, StorageError

OHLCV = ["open", "high", "low", "close", "volume"]


def _utc(moment) -> pd.Timestamp | None:
    if moment is None:
        return None
    ts = pd.Timestamp(moment)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class LocalStorage(DataStorage):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # ---- paths ---------------------------------------------------------------------------
    def _series_dir(self, symbol: str, timeframe: str) -> Path:
        safe = symbol.upper().replace("/", "_").replace("..", "_")
        return self.root / safe / timeframe

    def _lock(self, series: Path) -> FileLock:
        series.mkdir(parents=True, exist_ok=True)
        return FileLock(str(series / ".lock"), timeout=60)

    # ---- interface -----------------------------------------------------------------------
    def metadata(self, symbol: str, timeframe: str) -> dict | None:
        path = self._series_dir(symbol, timeframe) / "metadata.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc

    def has_cached_data(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> bool:
        meta = self.metadata(symbol, timeframe)
        if not meta or not meta.get("rows"):
            return False
        return (pd.Timestamp(meta["covered_start"]) <= _utc(start)
                and pd.Timestamp(meta["covered_end"]) >= _utc(end))

    def get_data(self, symbol, timeframe, start=None, end=None, columns: Sequence[str] | None = None):
        series = self._series_dir(symbol, timeframe)
        if not series.exists():
            return None
        start_ts, end_ts = _utc(start), _utc(end)
        files = sorted(series.glob("*/*.parquet"))
        wanted = [f for f in files if self._overlaps(f, start_ts, end_ts)]
        if not files:
            return None
        cols = list(columns) if columns else OHLCV
        bad = [c for c in cols if c not in OHLCV]
        if bad:
            raise StorageError(f"unknown columns {bad}")
        try:
            tables = [pq.read_table(f, columns=["timestamp", *cols]) for f in wanted]
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(f"cannot read {symbol} {timeframe}: {exc}") from exc
        if not tables:
            return _empty(cols)
        df = pa.concat_tables(tables).to_pandas().set_index("timestamp")
        df.index = pd.DatetimeIndex(df.index, name="timestamp").tz_convert("UTC")
        if start_ts is not None:
            df = df[df.index >= start_ts]
        if end_ts is not None:
            df = df[df.index < end_ts]
        return df

    def save_data(self, symbol: str, timeframe: str, df: pd.DataFrame, *,
                  covered_start=None, covered_end=None, source: str = "") -> dict:
        """Merge and write. ``covered_start``/``covered_end`` record the range that was asked of
        the provider (a closed market has no bars, yet that range is known to be complete)."""
        if not isinstance(df.index, pd.DatetimeIndex) or df.index.tz is None:
            raise StorageError("save_data needs a timezone-aware DatetimeIndex")
        series = self._series_dir(symbol, timeframe)
        try:
            with self._lock(series):
                new = df[OHLCV].astype("float64")
                new.index = new.index.tz_convert("UTC").as_unit("ns").rename("timestamp")
                for (year, month), part in new.groupby([new.index.year, new.index.month]):
                    path = series / f"{year:04d}" / f"{month:02d}.parquet"
                    if path.exists():
                        old = self._read_file(path)
                        part = pd.concat([old[~old.index.isin(part.index)], part]).sort_index()
                    self._write_atomic(path, part)
                meta = self._rebuild_metadata(series, symbol, timeframe, covered_start, covered_end, source)
        except StorageError:
            raise
        except Exception as exc:  # filelock timeouts, OS errors, Arrow errors
            raise StorageError(f"cannot save {symbol} {timeframe}: {exc}") from exc
        return meta

    def delete(self, symbol: str, timeframe: str) -> bool:
        series = self._series_dir(symbol, timeframe)
        if not series.exists():
            return False
        with self._lock(series):
            for child in series.iterdir():
                if child.name != ".lock":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        shutil.rmtree(series, ignore_errors=True)
        return True

    def list(self) -> list[dict]:
        out = []
        for meta_file in sorted(self.root.glob("*/*/metadata.json")):
            try:
                out.append(json.loads(meta_file.read_text()))
            except (OSError, ValueError) as exc:
                raise StorageError(f"cannot read {meta_file}: {exc}") from exc
        return out

    # ---- internals -----------------------------------------------------------------------
    @staticmethod
    def _overlaps(path: Path, start: pd.Timestamp | None, end: pd.Timestamp | None) -> bool:
        year, month = int(path.parent.name), int(path.stem)
        first = pd.Timestamp(year=year, month=month, day=1, tz="UTC")
        after = first + pd.offsets.MonthBegin(1)
        return (start is None or after > start) and (end is None or first < end)

    @staticmethod
    def _read_file(path: Path) -> pd.DataFrame:
        df = pq.read_table(path).to_pandas().set_index("timestamp")
        df.index = pd.DatetimeIndex(df.index).tz_convert("UTC").as_unit("ns")
        return df

    @staticmethod
    def _write_atomic(path: Path, df: pd.DataFrame) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(df.reset_index(), preserve_index=False)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _rebuild_metadata(self, series: Path, symbol, timeframe, covered_start, covered_end, source) -> dict:
        files = sorted(series.glob("*/*.parquet"))
        rows, size = 0, 0
        first = last = None
        for f in files:
            md = pq.read_metadata(f)
            rows += md.num_rows
            size += f.stat().st_size
        if files:
            first = self._read_file(files[0]).index.min()
            last = self._read_file(files[-1]).index.max()
        old = self.metadata(symbol, timeframe) or {}
        cs, ce = _utc(covered_start) or first, _utc(covered_end) or last
        old_s, old_e = _utc(old.get("covered_start")), _utc(old.get("covered_end"))
        if old_s is not None and cs is not None and old_s <= ce and cs <= old_e:
            # Overlapping or touching ranges: the union is known; a gap between them is not.
            cs, ce = min(cs, old_s), max(ce, old_e)
        meta = {"symbol": symbol.upper(), "timeframe": timeframe, "rows": rows, "size_bytes": size,
                "start": first.isoformat() if first is not None else None,
                "end": last.isoformat() if last is not None else None,
                "covered_start": cs.isoformat() if cs is not None else None,
                "covered_end": ce.isoformat() if ce is not None else None,
                "source": source or old.get("source", ""),
                "last_updated": datetime.now(timezone.utc).isoformat()}
        path = series / "metadata.json"
        fd, tmp = tempfile.mkstemp(dir=series, prefix=".metadata.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(meta, fh, indent=2)
        os.replace(tmp, path)
        return meta


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns},
                        index=pd.DatetimeIndex([], tz="UTC", name="timestamp"))
