"""Files a run or a batch produces (report PDFs), through one storage: ``STORAGES["artifacts"]``.

``QM_ARTIFACT_STORAGE`` picks the backend: ``local`` (files under ``QM_ARTIFACT_DIR``, fine for one
machine) or ``s3`` (django-storages' S3 storage on the market data's bucket and ``QM_S3_*``
settings, under ``QM_ARTIFACT_PREFIX``), so a PDF written by a worker on one host is served by a
web process on another. It defaults to the market-data backend (``QM_STORAGE_BACKEND``).

- Writes are atomic: a reader sees the old file or the whole new one, never half of one (S3: a
  PUT replaces an object at once; local: a temporary file, fsynced and renamed over the old one).
- Downloads are streamed in chunks by the web process, or, with ``QM_ARTIFACTS_PRESIGN=1`` on
  S3, answered 302 with a presigned URL valid for ``QM_ARTIFACTS_PRESIGN_SECONDS``.
- A file goes when its row goes: ``delete_on_commit`` removes it once the deleting transaction
  has committed (a rolled-back delete keeps the file).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import transaction
from django.http import FileResponse, HttpResponseRedirect, StreamingHttpResponse

CHUNK_BYTES = 64 * 1024


class AtomicFileSystemStorage(FileSystemStorage):
    """Local artifacts: a save replaces the file under its name atomically (temporary file in the
    same folder, fsync, rename), so a concurrent download never reads a half-written PDF and a
    re-render never needs a delete first."""

    def get_available_name(self, name, max_length=None):
        return name  # overwrite: the key is the artifact's identity (reports/<run id>.pdf)

    def _save(self, name, content):
        full_path = Path(self.path(name))
        full_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=full_path.parent, prefix=f".{full_path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if self.file_permissions_mode is not None:
                os.chmod(tmp, self.file_permissions_mode)
            os.replace(tmp, full_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(name).replace("\\", "/")


def storage() -> Storage:
    """The artifact storage configured in ``STORAGES["artifacts"]``."""
    return storages["artifacts"]


def write(key: str, data: bytes) -> str:
    """Store ``data`` under ``key`` (replacing any previous file atomically); returns the key."""
    return storage().save(key, ContentFile(data))


def exists(key: str) -> bool:
    return bool(key) and storage().exists(key)


def open_for_reading(key: str):
    """A binary file object of the artifact (for exports); the caller closes it."""
    return storage().open(key, "rb")


def delete(key: str) -> None:
    """Remove the artifact; one already gone is fine."""
    if key:
        storage().delete(key)


def delete_on_commit(key: str) -> None:
    """Remove the artifact once the current transaction commits (at once outside one)."""
    if key:
        transaction.on_commit(lambda: delete(key))


def _s3_body(key: str):
    """The S3 object's streaming body and its length, read straight from the GET (nothing is
    spooled to the web process's memory or disk)."""
    s3 = storage()
    response = s3.connection.meta.client.get_object(Bucket=s3.bucket_name, Key=s3._normalize_name(key))
    return response["Body"], response.get("ContentLength")


def _chunks(body) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()


def download_response(key: str, *, filename: str, content_type: str = "application/pdf"):
    """The HTTP answer for downloading an artifact: a 302 to a short-lived presigned URL
    (``QM_ARTIFACTS_PRESIGN=1`` on S3), else the file streamed in chunks; shown inline (a PDF
    opens in the browser), under ``filename`` when saved."""
    if settings.QM_ARTIFACT_STORAGE == "s3":
        if settings.QM_ARTIFACTS_PRESIGN:
            url = storage().url(
                key,
                parameters={
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": f'inline; filename="{filename}"',
                },
                expire=settings.QM_ARTIFACTS_PRESIGN_SECONDS,
            )
            return HttpResponseRedirect(url)
        body, length = _s3_body(key)
        response = StreamingHttpResponse(_chunks(body), content_type=content_type)
        if length is not None:
            response["Content-Length"] = str(length)
        response["Content-Disposition"] = f'inline; filename="{filename}"'
        return response
    return FileResponse(open_for_reading(key), content_type=content_type, filename=filename)
