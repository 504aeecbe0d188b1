"""Celery tasks: thin wrappers that take plain ids and call a service."""

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from backtests import chunks, services

# A run's task: redelivered if its worker dies (the lease makes that safe), retried on a dropped
# database connection, stopped by the time limits.
RUN_TASK_OPTIONS = dict(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.QM_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.QM_TASK_TIME_LIMIT,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)


@shared_task(name="backtests.tasks.run_backtest_task", **RUN_TASK_OPTIONS)
def run_backtest_task(self, run_id: str) -> str:
    try:
        return services.backtest_execute(run_id=run_id, task_id=self.request.id or "")
    except services.RunBusy as exc:
        # Another delivery of this run is RUNNING; look again once its heartbeat could be stale.
        raise self.retry(
            exc=exc, countdown=settings.QM_HEARTBEAT_TIMEOUT + 1, max_retries=settings.QM_MAX_ATTEMPTS + 2
        ) from exc


@shared_task(name="backtests.tasks.run_backtest_chunk_task", **RUN_TASK_OPTIONS)
def run_backtest_chunk_task(self, run_ids: list[str]) -> int:
    """Consecutive runs of one batch in one task (sent by the dispatcher; ``backtests.chunks``).
    Returns how many runs it claimed."""
    claimed, busy = chunks.backtest_execute_chunk(run_ids=run_ids, task_id=self.request.id or "")
    if busy:  # held by a live lease elsewhere: look again once its heartbeat could be stale
        raise self.retry(
            args=[busy], countdown=settings.QM_HEARTBEAT_TIMEOUT + 1, max_retries=settings.QM_MAX_ATTEMPTS + 2
        )
    return claimed


@shared_task(
    name="backtests.tasks.render_report_task",  # routed to the ``reports`` queue (CELERY_TASK_ROUTES)
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.QM_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.QM_TASK_TIME_LIMIT,
)
def render_report_task(run_id: str) -> str:
    return services.backtest_finish_report(run_id=run_id)


@shared_task(name="backtests.tasks.dispatch_queued_runs", ignore_result=True)
def dispatch_queued_runs(older_than_seconds: float = 5) -> int:
    return services.backtest_dispatch_pending(older_than_seconds=older_than_seconds)


@shared_task(name="backtests.tasks.redispatch_unclaimed_runs", ignore_result=True)
def redispatch_unclaimed_runs() -> int:
    return services.backtest_redispatch_unclaimed()


@shared_task(name="backtests.tasks.reap_stale_runs", ignore_result=True)
def reap_stale_runs() -> dict:
    return services.backtest_reap_stale()
