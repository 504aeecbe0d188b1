"""Batch, Schedule and BatchLimit moved from backtests to batches without copying a row: a
database migrated to backtests 0007 (batches inside backtests) with a schedule and its
PeriodicTask, a batch, a batch limit and a run of the batch keeps all of them after migrating
forward (tables renamed batches_*, task names batches.tasks.*), and again after migrating
back and forward. Checked on PostgreSQL (the test database) and on SQLite (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BEFORE = ("backtests", "0007_run_warmup_start")
MOVED = ("batch", "schedule", "batchlimit")


def _tables(connection) -> list[str]:
    """The moved models' tables present in the database, by either app's name."""
    names = {f"{app}_{model}" for app in ("backtests", "batches") for model in MOVED}
    return sorted(names & set(connection.introspection.table_names()))


def _old_rows(apps) -> dict:
    """Rows as backtests 0007 stored them, created through its historical models."""
    user = apps.get_model("auth", "User").objects.create(username="mover")
    interval = apps.get_model("django_celery_beat", "IntervalSchedule").objects.create(every=3600, period="seconds")
    task = apps.get_model("django_celery_beat", "PeriodicTask").objects.create(
        name="qm-batch-schedule-mover", task="backtests.batches.tasks.fire_schedule", interval=interval, args="[1]"
    )
    schedule = apps.get_model("backtests", "Schedule").objects.create(
        owner=user, name="hourly", definition={"strategy": {}}, interval_seconds=3600, periodic_task=task
    )
    batch = apps.get_model("backtests", "Batch").objects.create(
        owner=user, schedule=schedule, definition={"grid": {}}, status="SUCCEEDED", summary={"best": None}
    )
    apps.get_model("backtests", "BatchLimit").objects.create(user=user, max_runs=123)
    run = apps.get_model("backtests", "BacktestRun").objects.create(
        owner=user, request={}, market="XAUUSD", timeframe="1h", direction="Long", batch=batch
    )
    return {"batch": str(batch.id), "schedule": schedule.id, "run": str(run.id), "task": task.id}


def _observed(connection, ids: dict) -> dict:
    """What the current models see of the rows after migrating forward."""
    from django_celery_beat.models import PeriodicTask

    from backtests.models import BacktestRun
    from batches.models import Batch, BatchLimit, Schedule

    batch = Batch.objects.select_related("schedule", "owner").get(id=ids["batch"])
    return {
        "batch": [batch.status, batch.summary, batch.schedule.name, batch.owner.username],
        "schedule_task": Schedule.objects.get(id=ids["schedule"]).periodic_task_id == ids["task"],
        "limit": BatchLimit.objects.get(user=batch.owner).max_runs,
        "run_batch": str(BacktestRun.objects.get(id=ids["run"]).batch_id),
        "run_reverse": [str(r.id) for r in batch.runs.all()],
        "task_name": PeriodicTask.objects.get(id=ids["task"]).task,
        "tables": _tables(connection),
    }


def move_keeps_rows(connection) -> dict:
    """Migrate ``connection``'s database to backtests 0007 (unapplying batches), store rows
    there, migrate forward and observe; then back to 0007 and forward once more. Returns
    the observations; leaves the database fully migrated."""
    from django.db.migrations.executor import MigrationExecutor

    def migrate(targets):
        executor = MigrationExecutor(connection)
        executor.migrate(targets if targets else executor.loader.graph.leaf_nodes())
        return executor

    try:
        executor = migrate([BEFORE, ("batches", None)])
        ids = _old_rows(executor.loader.project_state(BEFORE).apps)
        migrate(None)
        forward = _observed(connection, ids)
        executor = migrate([BEFORE, ("batches", None)])
        old_apps = executor.loader.project_state(BEFORE).apps
        back = {
            "batches": old_apps.get_model("backtests", "Batch").objects.filter(id=ids["batch"]).count(),
            "task_name": old_apps.get_model("django_celery_beat", "PeriodicTask").objects.get(id=ids["task"]).task,
            "tables": _tables(connection),
        }
    finally:
        migrate(None)
    again = _observed(connection, ids)
    return {"vendor": connection.vendor, "forward": forward, "back": back, "again": again, "ids": ids}


def check(result: dict) -> None:
    ids = result["ids"]
    for seen in (result["forward"], result["again"]):
        assert seen["batch"] == ["SUCCEEDED", {"best": None}, "hourly", "mover"]
        assert seen["schedule_task"] and seen["limit"] == 123
        assert seen["run_batch"] == ids["batch"] and seen["run_reverse"] == [ids["run"]]
        assert seen["task_name"] == "batches.tasks.fire_schedule"
        assert seen["tables"] == ["batches_batch", "batches_batchlimit", "batches_schedule"]
    assert result["back"] == {
        "batches": 1,
        "task_name": "backtests.batches.tasks.fire_schedule",
        "tables": ["backtests_batch", "backtests_batchlimit", "backtests_schedule"],
    }


@pytest.mark.django_db(transaction=True)
def test_moving_the_models_keeps_their_rows_on_postgresql():
    from django.db import connection

    result = move_keeps_rows(connection)
    assert result["vendor"] == "postgresql"
    check(result)


def test_moving_the_models_keeps_their_rows_on_sqlite(tmp_path):
    script = (
        "import json, django; django.setup(); from django.db import connection; "
        "from batches.tests.test_migrations import move_keeps_rows; "
        "print(json.dumps(move_keeps_rows(connection)))"
    )
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="qm_platform.settings_test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'moved.sqlite3'}",
        QM_VAR_DIR=str(tmp_path / "var"),
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "sqlite"
    check(result)
