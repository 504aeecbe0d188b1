"""Market data fixtures: storage on the real S3 server (the root conftest's SeaweedFS), recorded
Yahoo exchanges replayed at the network edge, and a DataManager on a temporary folder installed
as the process's manager."""

from __future__ import annotations

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


# ---- S3 ---------------------------------------------------------------------------------------
# The session's SeaweedFS server (`seaweedfs`) is a root fixture (conftest.py at the repo root).


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
        lease_seconds=5,
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
