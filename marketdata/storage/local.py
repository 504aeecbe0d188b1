"""Local Parquet storage: ``<root>/<SYMBOL>/<timeframe>/<year>/<month>.parquet`` and
``metadata.json`` per series (see ``parquet.py`` for the layout and the merge).

Atomic and crash-safe writes: the bytes go to a temporary file in the same folder, are
flushed to disk (fsync), and the file is renamed over the old one (atomic on POSIX), then the
folder is fsynced so the rename itself survives a power cut. A crash at any point leaves the
previous file whole; a leftover temporary file is ignored by readers and removed by
``cleanup_temp_files``. Writers of one series, in any process on this machine, are serialised
by a file lock kept in ``<root>/.locks/`` (outside the series folder, so deleting a series
never pulls a lock file out from under a process waiting on it).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from .base import StorageError
from .parquet import PartitionedParquetStorage

LOCK_TIMEOUT_SECONDS = 60
TEMP_SUFFIX = ".tmp"


class LocalStorage(PartitionedParquetStorage):
    backend = "local"

    def __init__(self, root: str | os.PathLike, *, lock_timeout: float = LOCK_TIMEOUT_SECONDS):
        self.root = Path(root)
        self.lock_timeout = lock_timeout
        try:
            (self.root / ".locks").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the market data folder {self.root}: {exc}") from exc

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    # ---- primitives ----------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def _read_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc}") from exc

    def _write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _read_parquet(self, key: str, columns: list[str]) -> pa.Table | None:
        try:
            return pq.read_table(self._path(key), columns=columns, page_checksum_verification=True, use_threads=False)
        except FileNotFoundError:
            return None
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(f"cannot read {key}: {exc}") from exc

    def _list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.exists():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith(".") or name.endswith(TEMP_SUFFIX):
                    continue
                keys.append(Path(dirpath, name).relative_to(self.root).as_posix())
        return sorted(keys)

    def _delete_keys(self, keys: list[str]) -> None:
        folders = set()
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            folders.update(p for p in path.parents if self.root in p.parents)
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty (a temporary file of a concurrent crash, or a new write)
                folder.rmdir()

    def _lock(self, series: str):
        lock = FileLock(str(self.root / ".locks" / (series.replace("/", "__") + ".lock")), timeout=self.lock_timeout)
        return _TimeoutAsStorageError(lock, series)

    # ---- maintenance ---------------------------------------------------------------------
    def cleanup_temp_files(self, *, older_than_seconds: float = 3600) -> int:
        """Remove temporary files left by crashed writers. Returns how many were removed."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.root.rglob(f"*{TEMP_SUFFIX}"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed


class _TimeoutAsStorageError:
    def __init__(self, lock: FileLock, series: str):
        self.lock, self.series = lock, series

    def __enter__(self):
        try:
            self.lock.acquire()
        except Timeout:
            raise StorageError(
                f"{self.series} is locked by another writer (waited {self.lock.timeout:.0f} s)"
            ) from None
        return self

    def __exit__(self, *exc):
        self.lock.release()
        return False


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
