"""Celery tasks for batches: thin wrappers that take plain ids and call a service. Celery
autodiscovers this module (``batches`` is an installed app); the services send these tasks by
name, so nothing imports this module back."""

from celery import shared_task
from django.conf import settings

from batches.services.lifecycle import WAITING, batch_advance, batch_create_runs, batch_sweep
from batches.services.report import batch_render_report_pdf
from batches.services.schedules import schedule_fire


@shared_task(name="batches.tasks.batch_advance", bind=True, ignore_result=True, max_retries=300)
def batch_advance_task(self, batch_id: str) -> str:
    """Advance a batch that had nothing to send (every run answered from the cache). While runs
    are still finishing (e.g. their PDFs) it looks again shortly; the beat sweep is the backstop
    after ``max_retries``."""
    state = batch_advance(batch_id=batch_id)
    if state == WAITING and self.request.retries < self.max_retries:
        raise self.retry(countdown=settings.QM_BATCH_RECHECK_SECONDS)
    return state


@shared_task(name="batches.tasks.create_batch_runs", ignore_result=True, acks_late=True)
def create_batch_runs_task(batch_id: str) -> str:
    """Save a large batch's runs (sent by name when its POST committed). A redelivery (the
    worker died) resumes after the runs already saved."""
    return batch_create_runs(batch_id=batch_id)


@shared_task(name="batches.tasks.batch_run_finished", ignore_result=True)
def batch_run_finished_task(batch_id: str) -> str:
    """Sent (by name, from backtests) when a run of the batch reaches a final status."""
    return batch_advance(batch_id=batch_id)


@shared_task(name="batches.tasks.sweep_batches", ignore_result=True)
def sweep_batches() -> int:
    return batch_sweep()


@shared_task(
    name="batches.tasks.render_batch_report",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=300,
    time_limit=330,
)
def render_batch_report_task(batch_id: str) -> None:
    batch_render_report_pdf(batch_id=batch_id)


@shared_task(name="batches.tasks.fire_schedule", ignore_result=True)
def fire_schedule(schedule_id: int) -> str | None:
    batch = schedule_fire(schedule_id=schedule_id)
    return str(batch.id) if batch else None
