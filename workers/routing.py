"""Celery wiring in one place: the queues, which task goes to which queue, and what celery beat
runs. Settings read these (``CELERY_TASK_QUEUES``, ``CELERY_TASK_ROUTES``,
``CELERY_BEAT_SCHEDULE``); a worker specialises with ``-Q``, e.g. ``celery -A qm_platform
worker -Q reports`` for PDF rendering only.

Pure data (kombu only): settings import it before Django's apps are loaded.
"""

from __future__ import annotations

from kombu import Exchange, Queue

QUEUES = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ("backtests", "reports", "data")
)
DEFAULT_QUEUE = "backtests"

# An exact task name wins over a pattern (Celery's router tries them in order).
ROUTES = {
    "backtests.tasks.render_report_task": {"queue": "reports"},
    "batches.tasks.render_batch_report": {"queue": "reports"},
    "backtests.tasks.*": {"queue": "backtests"},
    "batches.tasks.*": {"queue": "backtests"},  # create_batch_runs, advance, sweep, schedules
    "marketdata.tasks.*": {"queue": "data"},
}


def beat_schedule(*, heartbeat_timeout: int, batch_sweep_seconds: int, redispatch_seconds: int) -> dict[str, dict]:
    """The periodic sweeps (schedules of users' batches live in django-celery-beat's tables):
    the outbox (runs never sent), the re-sender (runs sent but never claimed: a lost message), the
    reaper (workers gone silent) and the batch sweep (batches whose last message never came)."""
    return {
        "dispatch-queued-runs": {"task": "backtests.tasks.dispatch_queued_runs", "schedule": 15.0},
        "redispatch-unclaimed-runs": {
            "task": "backtests.tasks.redispatch_unclaimed_runs",
            "schedule": float(max(1, min(60, redispatch_seconds // 2))),
        },
        "reap-stale-runs": {
            "task": "backtests.tasks.reap_stale_runs",
            "schedule": float(max(5, heartbeat_timeout // 2)),
        },
        "advance-batches": {"task": "batches.tasks.sweep_batches", "schedule": float(batch_sweep_seconds)},
    }
