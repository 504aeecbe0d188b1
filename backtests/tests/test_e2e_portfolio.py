"""A portfolio run in a real Celery worker process: progress by market, a cancel mid-basket."""

import time

import pytest

from backtests import services
from backtests.models import BacktestRun, RunStatus, Trade
from conftest import WorkerProcess, flush_broker

from .factories import v4_body

pytestmark = pytest.mark.e2e
MARKETS = ["EURUSD", "BTCUSD", "XAUUSD", "GBPUSD"]


def _portfolio(timeframe: str, start: str, end: str, markets=MARKETS) -> dict:
    body = v4_body(
        marketContext__timeframe=timeframe, marketContext__startDate=start, marketContext__endDate=end, cache=False
    )
    body["marketContext"].pop("market")
    body["marketContext"]["markets"] = list(markets)
    body["portfolio"] = {"maxOpenPositions": 2}
    return body


def test_the_worker_reports_each_market_and_a_cancel_stops_it_mid_basket(transactional_db, tmp_path, alice):
    flush_broker()
    # an empty cache: 8 months of 1m bars per market are generated day by day (the Free plan: 1.5M bars a run)
    cache = tmp_path / "market_cache"
    worker = WorkerProcess(tmp_path / "worker.log", QM_RENDER_PDF=0, QM_DATA_DIR=cache, QM_CANCEL_CHECK_INTERVAL_MS=10)
    try:
        run = services.backtest_submit(
            user=alice, body=_portfolio("1m", "2023-01-01T00:00:00Z", "2023-09-01T00:00:00Z")
        )
        stages: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, stage = BacktestRun.objects.filter(id=run.id).values_list("status", "stage").get()
            if not stages or stages[-1] != stage:
                stages.append(stage)
            if stage == "loading_data:BTCUSD" or status not in (RunStatus.QUEUED, RunStatus.RUNNING):
                break
            time.sleep(0.02)
        assert stages[-1] == "loading_data:BTCUSD", stages
        assert "loading_data:EURUSD" in stages
        services.backtest_cancel(run=BacktestRun.objects.get(id=run.id))
        log = worker.log_path
        while b"'CANCELLED'" not in log.read_bytes():  # the task returns the status it left
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        # the worker stopped mid-basket: EURUSD is cached, no later market than BTCUSD is (whether
        # BTCUSD's own load was cut depends on timing here; test_api_portfolio pins that in-process)
        assert (cache / "EURUSD@SYNTHETIC" / "1m" / "metadata.json").exists()
        assert not (cache / "XAUUSD@SYNTHETIC").exists() and not (cache / "GBPUSD@SYNTHETIC").exists()
        assert not Trade.objects.filter(run=run).exists()

        # the worker is free and runs the next portfolio to the end, by market
        ok = services.backtest_submit(
            user=alice, body=_portfolio("1h", "2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z", MARKETS[:2])
        )
        while BacktestRun.objects.get(id=ok.id).status in (RunStatus.QUEUED, RunStatus.RUNNING):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        ok.refresh_from_db()
        assert ok.status == RunStatus.SUCCEEDED, ok.error_message
        assert set(Trade.objects.filter(run=ok).values_list("market", flat=True)) <= set(MARKETS[:2])
    finally:
        worker.stop()
