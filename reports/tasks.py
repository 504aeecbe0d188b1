"""Report tasks run on the ``reports`` queue, so PDF rendering can scale apart from backtests."""

from celery import shared_task
from django.conf import settings

from backtests import services


@shared_task(
    name="reports.tasks.render_report_task",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.QM_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.QM_TASK_TIME_LIMIT,
)
def render_report_task(run_id: str) -> str:
    return services.backtest_finish_report(run_id=run_id)
