"""S3 storage: the local layout (see ``parquet.py``) under ``s3://<bucket>/<prefix>/``.

boto3 writes and lists (a PUT replaces an object atomically, with server-side encryption
when configured); pyarrow's S3 filesystem reads Parquet with ranged GETs, so column pruning
also saves network. Works with AWS S3 and S3-compatible servers (SeaweedFS, MinIO, Ceph) via
``endpoint_url``.

Writers of one series on different machines are serialised by a lease object
(``<prefix>/.locks/<SYMBOL>__<timeframe>.lock``) created with a conditional PUT
(``If-None-Match: *``): only one writer can create it. A lease older than ``lease_seconds``
(its writer crashed) is broken with a conditional DELETE on its ETag, so two writers cannot
both break the same lease. A waiter waits longer than a lease lives (``lock_timeout`` >
``lease_seconds``), so a writer that crashed or was cut off mid-save never makes the next
writer give up: it breaks the expired lease and saves. A lease covers one save (read, merge and
write a series' month partitions): seconds, well inside ``lease_seconds``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from .base import StorageError
from .parquet import PartitionedParquetStorage

LEASE_SECONDS = 30
LOCK_TIMEOUT_SECONDS = 60
SSE_CHOICES = ("", "AES256", "aws:kms")


class S3Storage(PartitionedParquetStorage):
    backend = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        session_token: str = "",
        sse: str = "",
        sse_kms_key_id: str = "",
        create_bucket: bool = False,
        lease_seconds: float = LEASE_SECONDS,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
        connect_timeout: float = 5,
        read_timeout: float = 30,
    ):
        import boto3
        from botocore.config import Config

        if not bucket:
            raise StorageError("S3 storage needs a bucket")
        if sse not in SSE_CHOICES:
            raise StorageError(f"unknown server-side encryption {sse!r}; expected one of {SSE_CHOICES}")
        if lock_timeout <= lease_seconds:
            raise StorageError(
                f"lock_timeout ({lock_timeout} s) must exceed lease_seconds ({lease_seconds} s): a writer would "
                "give up before a crashed writer's lease could be broken"
            )
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.sse, self.sse_kms_key_id = sse, sse_kms_key_id
        self.lease_seconds, self.lock_timeout = lease_seconds, lock_timeout
        creds = {}
        if access_key_id:
            creds = {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
            if session_token:
                creds["aws_session_token"] = session_token
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                s3={"addressing_style": "path"},
            ),
            **creds,
        )
        fs_args = {"region": region or "us-east-1", "connect_timeout": connect_timeout, "request_timeout": read_timeout}
        if endpoint_url:
            parsed = urlparse(endpoint_url)
            fs_args.update(endpoint_override=parsed.netloc + parsed.path.rstrip("/"), scheme=parsed.scheme or "https")
        if access_key_id:
            fs_args.update(access_key=access_key_id, secret_key=secret_access_key)
            if session_token:
                fs_args["session_token"] = session_token
        self.fs = pafs.S3FileSystem(**fs_args)
        if create_bucket:
            self._ensure_bucket()

    def __repr__(self) -> str:
        return f"S3Storage(s3://{self.bucket}/{self.prefix})"

    # ---- primitives ----------------------------------------------------------------------
    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _read_bytes(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise StorageError(f"cannot read s3://{self.bucket}/{self._key(key)}: {exc}") from exc

    def _put_args(self) -> dict:
        if self.sse == "aws:kms":
            return {
                "ServerSideEncryption": "aws:kms",
                **({"SSEKMSKeyId": self.sse_kms_key_id} if self.sse_kms_key_id else {}),
            }
        if self.sse:
            return {"ServerSideEncryption": self.sse}
        return {}

    def _write_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **self._put_args())
        except Exception as exc:
            raise StorageError(f"cannot write s3://{self.bucket}/{self._key(key)}: {exc}") from exc

    def _read_parquet(self, key: str, columns: list[str]) -> pa.Table | None:
        path = f"{self.bucket}/{self._key(key)}"
        try:
            with self.fs.open_input_file(path) as handle:
                return pq.read_table(handle, columns=columns, page_checksum_verification=True)
        except FileNotFoundError:
            return None
        except (OSError, pa.ArrowException) as exc:
            if "does not exist" in str(exc) or "NoSuchKey" in str(exc):
                return None
            raise StorageError(f"cannot read s3://{path}: {exc}") from exc

    def _list_keys(self, prefix: str) -> list[str]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(f"{self.prefix}/") if self.prefix else 0
        keys = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    rel = item["Key"][strip:]
                    if not rel.startswith(".locks/"):
                        keys.append(rel)
        except Exception as exc:
            raise StorageError(f"cannot list s3://{self.bucket}/{full}: {exc}") from exc
        return sorted(keys)

    def _delete_keys(self, keys: list[str]) -> None:
        try:
            for i in range(0, len(keys), 1000):
                batch = keys[i : i + 1000]
                # One request per batch; metadata.json is first in the list, so it goes first.
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": self._key(k)} for k in batch], "Quiet": True}
                )
        except Exception as exc:
            raise StorageError(f"cannot delete from s3://{self.bucket}: {exc}") from exc

    @contextlib.contextmanager
    def _lock(self, series: str):
        key = self._key(f".locks/{series.replace('/', '__')}.lock")
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        etag = self._acquire_lease(key, token)
        try:
            yield
        finally:
            # may fail when it expired and was broken by another writer, or the server is gone: it expires
            with contextlib.suppress(Exception):
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=etag)

    # ---- internals -----------------------------------------------------------------------
    def _acquire_lease(self, key: str, token: str) -> str:
        from botocore.exceptions import ClientError

        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        body = json.dumps({"owner": token, "acquired_at": time.time()}).encode()
        while True:
            try:
                return self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")["ETag"]
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                    raise StorageError(f"cannot lock {key}: {exc}") from exc
            self._break_expired_lease(key)
            if time.monotonic() > deadline:
                raise StorageError(f"{key} is held by another writer (waited {self.lock_timeout:.0f} s)")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _break_expired_lease(self, key: str) -> None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception:
            return
        age = time.time() - head["LastModified"].timestamp()
        if age > self.lease_seconds:
            with contextlib.suppress(Exception):  # someone else broke (or renewed) it first
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=head["ETag"])

    def _ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except Exception as exc:
            if not _is_missing(exc, bucket=True):
                raise StorageError(f"cannot reach bucket {self.bucket}: {exc}") from exc
        try:
            self.client.create_bucket(Bucket=self.bucket)
        except Exception as exc:
            if "BucketAlreadyOwnedByYou" not in str(exc):
                raise StorageError(f"cannot create bucket {self.bucket}: {exc}") from exc


def _is_missing(exc: Exception, *, bucket: bool = False) -> bool:
    """True for 'no such object' (and, with ``bucket``, 'no such bucket'); a missing bucket
    is a configuration error everywhere else."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("NoSuchKey", "404", "NotFound") or (bucket and code == "NoSuchBucket")
