"""Worker start-up hooks (workers/signals.py): a pool process reports up before its kernels are
loaded, and the start-up sweep is a task, so neither holds up a new worker's first run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings
from django.db import connection

from backtests import services
from backtests.models import BacktestRun, RunStatus
from backtests.tasks import dispatch_queued_runs
from backtests.tests.factories import v4_body
from conftest import ROOT, flush_broker
from workers.signals import dispatch_on_start

UP_WHILE_LOADING = """
import gc
import json
import django
django.setup()
from numba.core.compiler_lock import global_compiler_lock
from backtests.engine import downsample, jit, kernel, montecarlo
from workers.signals import warm_engine

cached = jit.cache_matches(kernel.run_kernel, montecarlo._paths_kernel)
with global_compiler_lock:  # no kernel can load or compile while this thread holds it
    thread = warm_engine()
    up_while_loading = thread.is_alive() and kernel.run_kernel.signatures == []
if cached:  # compiling every kernel (no cache) takes minutes: only a loaded cache is waited for
    thread.join(120)
print(json.dumps({"cached": cached, "up_while_loading": up_while_loading, "finished": not thread.is_alive(),
                  "loaded": len(kernel.run_kernel.signatures), "frozen": gc.get_freeze_count(),
                  "curves": len(downsample._mark_kept.signatures)}))
"""


def test_a_pool_process_reports_up_while_its_kernels_load_in_the_background():
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="qm_platform.settings_test")
    done = subprocess.run(
        [sys.executable, "-c", UP_WHILE_LOADING], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["up_while_loading"]  # the hook returned (Celery counts the process up) with nothing loaded
    if seen["cached"]:
        assert seen["finished"] and seen["loaded"] >= 1  # then the thread loaded the engine's kernels
        assert seen["curves"] >= 1  # and the stored curves' (every run uses them)
        assert seen["frozen"] > 100_000  # and froze what the process holds once started


def _sent_tasks() -> list[str]:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    names = []
    for key in broker.scan_iter("backtests*"):
        if broker.type(key) == b"list":
            names += [json.loads(message)["headers"]["task"] for message in broker.lrange(key, 0, -1)]
    return names


@pytest.mark.django_db
def test_the_start_up_sweep_is_sent_as_a_task_and_dispatches_a_run_saved_a_moment_ago(alice):
    flush_broker()
    run = services.backtest_submit(user=alice, body=v4_body())  # saved; its dispatch never happened
    dispatch_on_start()
    run.refresh_from_db()
    assert run.dispatched_at is None  # the hook queried nothing: a pool process runs the sweep
    assert _sent_tasks() == ["backtests.tasks.dispatch_queued_runs"]
    assert dispatch_queued_runs(older_than_seconds=0) == 1  # what that task does
    assert BacktestRun.objects.get(id=run.id).dispatched_at is not None
    assert sorted(_sent_tasks()) == ["backtests.tasks.dispatch_queued_runs", "backtests.tasks.run_backtest_task"]


def _sessions() -> int:
    """Sessions PostgreSQL has counted for the test database (``pg_stat_database.sessions``),
    waiting out its statistics' flush interval (about a second) first."""
    time.sleep(2.5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def _run_and_wait(user, body: dict, timeout: float = 90) -> BacktestRun:
    run = services.backtest_submit(user=user, body=body)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run.id} still {run.status}")


@pytest.mark.e2e
def test_a_workers_runs_share_one_database_connection_and_a_dropped_one_is_replaced(celery_worker_process, alice):
    assert _run_and_wait(alice, v4_body(exit__takeProfit=2.1)).status == RunStatus.SUCCEEDED  # connected
    before = _sessions()
    for k in range(5):
        assert _run_and_wait(alice, v4_body(exit__takeProfit=2.2 + k / 10)).status == RunStatus.SUCCEEDED
    # Celery's fix-up alone closed the connection before and after each task: 10 sessions
    assert _sessions() - before <= 1
    # a connection the server ended between two tasks (a restart, an idle timeout): the next task
    # fails on it once, Django closes it after that failure, and the task's retry reconnects
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    run = _run_and_wait(alice, v4_body(exit__takeProfit=3.1))
    assert run.status == RunStatus.SUCCEEDED and run.trade_count > 0
