"""Celery tasks: thin wrappers that take plain ids and call a service."""
from celery import shared_task
from django.conf import settings

from backtests import services


@shared_task(name="backtests.tasks.run_backtest_task", bind=True, acks_late=True,
             reject_on_worker_lost=True, soft_time_limit=settings.QM_TASK_SOFT_TIME_LIMIT,
             time_limit=settings.QM_TASK_TIME_LIMIT)
def run_backtest_task(self, run_id: str) -> str:
    return services.backtest_execute(run_id=run_id, task_id=self.request.id or "")


@shared_task(name="backtests.tasks.dispatch_queued_runs", ignore_result=True)
def dispatch_queued_runs() -> int:
    return services.backtest_dispatch_pending()
