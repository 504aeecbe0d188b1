"""A user's batches and schedules in their data export and account deletion (registered with
``accounts.privacy`` from ``BatchesConfig.ready()``)."""

from __future__ import annotations

from functools import partial

from accounts.privacy import ExportFile, ExportPart
from batches.models import Batch, BatchLimit, Schedule
from batches.services.schedules import schedule_delete
from qm_platform import artifacts


def batch_export_for_user(*, user) -> ExportPart:
    """Batches (definition, windows, summary, drift), schedules and the batch PDFs."""
    batches = list(Batch.objects.filter(owner=user).order_by("created_at").values())
    schedules = list(Schedule.objects.filter(owner=user).order_by("created_at").values())
    files = [
        ExportFile(path=f"batches/{batch_id}.pdf", open=partial(artifacts.open_for_reading, key))
        for batch_id, key in Batch.objects.filter(owner=user).exclude(report_key="").values_list("id", "report_key")
        if artifacts.exists(key)
    ]
    limit = BatchLimit.objects.filter(user=user).values_list("max_runs", flat=True).first()
    return ExportPart(data={"batches": batches, "schedules": schedules, "batch_limit": limit}, files=files)


def batch_delete_for_user(*, user) -> dict[str, int]:
    """The batch PDFs in storage first, then the schedules with their beat tasks (so beat stops
    firing them), then the batches (their runs are deleted by backtests)."""
    keys = list(Batch.objects.filter(owner=user).exclude(report_key="").values_list("report_key", flat=True))
    for key in keys:
        artifacts.delete(key)
    schedules = list(Schedule.objects.filter(owner=user))
    for schedule in schedules:
        schedule_delete(schedule=schedule)
    batches, _ = Batch.objects.filter(owner=user).delete()
    BatchLimit.objects.filter(user=user).delete()
    return {"batches": batches, "schedules": len(schedules), "report_files": len(keys)}
