"""Faults with real processes: a broker that is down at submit time, workers killed with
SIGKILL mid-run, and the soft time limit. Nothing submitted is lost; nothing runs twice."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.test import override_settings

from backtests import services
from backtests.models import BacktestRun, RunStatus, Trade
from conftest import ROOT, WorkerProcess, flush_broker, worker_env

from .factories import v4_body

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
FINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
HEARTBEAT = 3

# A heavy run (1.5M one-minute bars, slow modules) that is still busy when we strike.
HEAVY = v4_body(
    marketContext__market="BTCUSD",
    marketContext__timeframe="1m",
    marketContext__startDate="2021-01-01T00:00:00Z",
    marketContext__endDate="2023-11-01T00:00:00Z",
    decisionBlocks=[
        {
            "label": "Heavy",
            "subConfirmations": [
                {"moduleId": "rsi", "config": {"operator": "<", "value": 30}},
                {"moduleId": "sr_zones", "config": {"operator": "!=", "value": "neutral"}},
                {"moduleId": "volume_profile", "config": {"operator": ">", "value": 0}},
            ],
        }
    ],
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=60, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def status_of(run_id):
    return BacktestRun.objects.values_list("status", "stage", "progress").get(id=run_id)


class RedisServer:
    """A private redis-server on a free loopback port that a test may stop and restart."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(
            lambda: (
                subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip()
                == b"PONG"
            ),
            timeout=10,
            what="redis",
        )

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


def test_runs_submitted_while_the_broker_is_down_all_succeed_once_it_is_back(tmp_path, alice):
    from rest_framework.authtoken.models import Token

    redis = RedisServer(tmp_path)
    redis.start()
    port = free_port()
    env = worker_env(CELERY_BROKER_URL=redis.url, QM_RENDER_PDF=0)
    web = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ok(f"{base}/healthz"), timeout=30, what="web server")
        redis.stop()
        headers = {"Authorization": f"Token {Token.objects.create(user=alice).key}"}
        ids = []
        for i in range(5):
            response = requests.post(
                f"{base}/api/v1/backtests", json=v4_body(exit__takeProfit=2.0 + i / 10), headers=headers, timeout=30
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        assert set(BacktestRun.objects.filter(id__in=ids).values_list("status", flat=True)) == {"QUEUED"}
        assert not BacktestRun.objects.filter(id__in=ids, dispatched_at__isnull=False).exists()
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 503

        redis.start()
        worker = WorkerProcess(tmp_path / "worker.log", CELERY_BROKER_URL=redis.url, QM_RENDER_PDF=0)
        wait_for(
            lambda: not BacktestRun.objects.filter(id__in=ids).exclude(status__in=FINAL).exists(),
            timeout=120,
            what="all runs to finish",
        )
        assert list(BacktestRun.objects.filter(id__in=ids).values_list("status", flat=True)) == ["SUCCEEDED"] * 5
    finally:
        if worker:
            worker.stop()
        web.terminate()
        web.wait(timeout=10)
        redis.stop()


SENDS_WITH_THE_BROKER_DOWN = """
import logging, uuid
import django
django.setup()
from backtests import services
from batches.services import lifecycle, report
logging.getLogger("celery.backends").addHandler(logging.StreamHandler())
print("run sent:", services._send_run_task(uuid.uuid4(), priority=5))
print("report sent:", services.report_dispatch(run_id=uuid.uuid4()))
print("batch report sent:", report.batch_report_dispatch(batch_id=uuid.uuid4()))
"""


@pytest.mark.parametrize("result_backend", ["default", "configured"])
def test_a_send_to_a_broker_that_is_down_fails_at_once_without_touching_a_result_store(result_backend):
    """With a result backend on the broker's Redis (the setting's old default), Celery's send_task
    first subscribed to the task's result channel, and with Redis down spent 20 reconnection
    retries there (about 19 s) before the send failed: each POST hung that long. No result is
    read, so the platform has no result backend by default and its sends ask for none, even where
    an operator configures one: the send fails on the broker alone, the run waits in the outbox."""
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env = worker_env(CELERY_BROKER_URL=closed)
    env.pop("QM_RESULT_BACKEND", None)
    if result_backend == "configured":
        env["QM_RESULT_BACKEND"] = closed
    done = subprocess.run(
        [sys.executable, "-c", SENDS_WITH_THE_BROKER_DOWN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "run sent: False" in out and "report sent: False" in out and "batch report sent: False" in out, out
    assert "result store" not in out and "Connection to Redis lost" not in out, out


def _ok(url):
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _start_heavy_run(user):
    flush_broker()
    run = services.backtest_submit(user=user, body=HEAVY)
    wait_for(
        lambda: status_of(run.id)[1] in ("computing_modules", "simulating"),
        timeout=90,
        what="the run to start computing",
    )
    return run


def _assert_finished_once(run_id):
    run = BacktestRun.objects.get(id=run_id)
    assert run.status == RunStatus.SUCCEEDED, (run.status, run.error_code, run.error_message)
    assert Trade.objects.filter(run_id=run_id).count() == run.trade_count
    assert not BacktestRun.objects.filter(status=RunStatus.RUNNING).exists()
    return run


def test_whole_worker_killed_mid_run_is_requeued_by_the_reaper(tmp_path, alice):
    env = {"QM_HEARTBEAT_TIMEOUT": HEARTBEAT, "QM_RENDER_PDF": 0, "QM_PROGRESS_MIN_INTERVAL_MS": 200}
    first = WorkerProcess(tmp_path / "first.log", **env)
    second = None
    try:
        run = _start_heavy_run(alice)
        first.stop(sig=signal.SIGKILL)
        assert status_of(run.id)[0] == RunStatus.RUNNING  # stuck until someone notices
        second = WorkerProcess(tmp_path / "second.log", **env)
        time.sleep(HEARTBEAT + 0.5)
        with override_settings(QM_HEARTBEAT_TIMEOUT=HEARTBEAT):
            assert services.backtest_reap_stale()["requeued"] == 1
        wait_for(lambda: status_of(run.id)[0] in FINAL, timeout=120, what="the requeued run")
        assert _assert_finished_once(run.id).attempts == 2
    finally:
        first.stop()
        if second:
            second.stop()


def test_pool_process_killed_mid_run_is_redelivered_and_taken_over(tmp_path, alice):
    env = {"QM_HEARTBEAT_TIMEOUT": HEARTBEAT, "QM_RENDER_PDF": 0, "QM_PROGRESS_MIN_INTERVAL_MS": 200}
    worker = WorkerProcess(tmp_path / "worker.log", **env)
    try:
        run = _start_heavy_run(alice)
        children = subprocess.run(["pgrep", "-P", str(worker.proc.pid)], capture_output=True, text=True)
        pids = [int(p) for p in children.stdout.split()]
        assert pids, "the worker has a pool process"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        # acks_late + reject_on_worker_lost: the broker hands the task out again; the new
        # delivery waits until the dead holder's heartbeat is stale, then takes the run over.
        wait_for(lambda: status_of(run.id)[0] in FINAL, timeout=120, what="the redelivered run")
        assert _assert_finished_once(run.id).attempts == 2
        assert b"WorkerLostError" in worker.log_path.read_bytes()
    finally:
        worker.stop()


def test_soft_time_limit_fails_the_run_with_timeout(tmp_path, alice):
    from backtests.tasks import run_backtest_task

    flush_broker()
    # A market-data cache of its own, empty: generating the run's 1.5M bars alone takes several
    # times 0.3 s, so the limit strikes while the run is busy.
    worker = WorkerProcess(tmp_path / "worker.log", QM_RENDER_PDF=0, QM_DATA_DIR=tmp_path / "market_cache")
    try:
        run = services.backtest_submit(user=alice, body={**HEAVY, "cache": False}, dispatch=False)
        # Celery carries the limits in the message; send this one with a 0.3 s soft limit.
        run_backtest_task.apply_async(args=[str(run.id)], soft_time_limit=0.3, time_limit=20)
        # generous waits: they end as soon as the run does, and under load (11-13 on 2 cores) a
        # fresh worker's first runs on an empty cache took longer than a minute
        wait_for(lambda: status_of(run.id)[0] in FINAL, timeout=180, what="the run to time out")
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED and run.error_code == "TIMEOUT"
        assert "time limit" in run.error_message
        # The worker survives and serves the next run.
        ok = services.backtest_submit(user=alice, body=v4_body())
        wait_for(lambda: status_of(ok.id)[0] in FINAL, timeout=180, what="the next run")
        assert status_of(ok.id)[0] == RunStatus.SUCCEEDED
    finally:
        worker.stop()
