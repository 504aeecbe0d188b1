"""Accounts fixtures: storage on temporary folders, runs with trades and PDFs, uploaded datasets,
an admin, and a check for the one error contract."""

from __future__ import annotations

import hashlib
import uuid

import pandas as pd
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], dict)
    return body


@pytest.fixture
def storage(settings, tmp_path):
    """Report files (default_storage) and market data (the process's DataManager) on
    temporary folders; yields the DataManager."""
    from marketdata import services
    from marketdata.manager import DataManager
    from marketdata.providers.synthetic import SyntheticProvider
    from marketdata.storage import LocalStorage

    settings.MEDIA_ROOT = str(tmp_path / "media")
    manager = DataManager(
        LocalStorage(tmp_path / "market_cache"), {"synthetic": SyntheticProvider()}, sleep=lambda s: None
    )
    services.set_data_manager(manager)
    yield manager
    services.set_data_manager(None)


@pytest.fixture
def make_run(storage):
    """A succeeded run of ``owner`` with ``trades`` trades and a stored PDF report."""
    from backtests.models import Artifact, BacktestRun, RunStatus, Strategy, Trade

    def make(owner, *, trades: int = 3, market: str = "XAUUSD"):
        strategy, _ = Strategy.objects.get_or_create(
            owner=owner, name=f"{owner.username} strategy", defaults={"definition": {"x": 1}}
        )
        run = BacktestRun.objects.create(
            owner=owner,
            strategy=strategy,
            request={"strategyName": f"{owner.username}'s RSI"},
            market=market,
            timeframe="1h",
            direction="Long",
            status=RunStatus.SUCCEEDED,
            metrics={"net_return_pct": 1.5},
            trade_count=trades,
        )
        start = pd.Timestamp("2024-01-02 10:00", tz="UTC")
        Trade.objects.bulk_create(
            Trade(
                run=run,
                seq=i + 1,
                direction="Long",
                entry_time=start + pd.Timedelta(hours=i),
                entry_price=100.0 + i,
                exit_time=start + pd.Timedelta(hours=i + 1),
                exit_price=101.0 + i,
                size=1.0,
                pnl=1.0,
                pnl_pct=1.0,
                exit_reason="TP",
                bars_held=1,
            )
            for i in range(trades)
        )
        pdf = b"%PDF-1.4 report of run " + str(run.id).encode() + b" for " + owner.username.encode()
        key = default_storage.save(f"reports/{run.id}.pdf", ContentFile(pdf))
        Artifact.objects.create(
            run=run,
            kind=Artifact.Kind.REPORT_PDF,
            storage_key=key,
            bytes=len(pdf),
            sha256=hashlib.sha256(pdf).hexdigest(),
        )
        return run

    return make


@pytest.fixture
def make_dataset(storage):
    """A CSV dataset uploaded by ``owner`` (a few days of synthetic hourly bars)."""
    from marketdata.providers.synthetic import SyntheticProvider
    from marketdata.services import dataset_import_csv

    def make(owner, *, symbol: str = "EURUSD"):
        frame = SyntheticProvider().download(
            symbol, "1h", pd.Timestamp("2024-01-08", tz="UTC"), pd.Timestamp("2024-01-10", tz="UTC")
        )
        frame.index = frame.index.strftime("%Y-%m-%d %H:%M")
        text = frame.rename_axis("Date").rename(columns=str.capitalize).to_csv()
        return dataset_import_csv(user=owner, data=text.encode(), symbol=symbol, tz="UTC", name="bars.csv").dataset

    return make


@pytest.fixture
def admin_user(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root", "root@example.com", f"root-{uuid.uuid4().hex}")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client
