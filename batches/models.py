"""Batches of backtests (parameter sweeps, multi-market runs, walk-forward analyses), the
schedules that create them, and per-user batch limits.

Every combination of a batch is an ordinary BacktestRun with ``batch`` set; the batch holds
its definition, progress-independent state and, once final, its summary. Only
``batches.services.lifecycle`` changes a batch's status.

The tables were created by backtests' migration 0006 when batches lived inside backtests;
``batches/migrations`` took them over without copying a row (see 0001 and 0002).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class BatchStatus(models.TextChoices):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"  # every run is final and at least one succeeded (failed runs are listed)
    FAILED = "FAILED"  # every run is final and none succeeded
    CANCELLED = "CANCELLED"


BATCH_FINAL_STATUSES = (BatchStatus.SUCCEEDED, BatchStatus.FAILED, BatchStatus.CANCELLED)


class BatchStage(models.TextChoices):
    CREATING = "creating_runs"  # a task is saving the runs (a large batch): the batch cannot finish yet
    RUNNING = "running"  # every first-pass run exists; the batch advances as its runs end


class BatchMode(models.TextChoices):
    GRID = "grid"
    WALK_FORWARD = "walk_forward"


class Batch(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches")
    schedule = models.ForeignKey(
        "batches.Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="batches"
    )
    name = models.CharField(max_length=200, blank=True)
    strategy = models.ForeignKey(
        "backtests.Strategy", null=True, blank=True, on_delete=models.SET_NULL, related_name="batches"
    )
    strategy_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The saved strategy's version the batch swept (kept if it is deleted)."
    )
    mode = models.CharField(max_length=16, choices=BatchMode.choices, default=BatchMode.GRID)
    status = models.CharField(max_length=16, choices=BatchStatus.choices, default=BatchStatus.RUNNING, db_index=True)
    stage = models.CharField(
        max_length=16,
        choices=BatchStage.choices,
        default=BatchStage.RUNNING,
        help_text="creating_runs while a task saves a large batch's runs, then running.",
    )
    definition = models.JSONField(
        help_text="The batch request: strategy, grid, markets, timeframes, sample, objective, constraints, walkForward."
    )
    combination_count = models.PositiveIntegerField(
        default=0, help_text="Parameter combinations (per window for walk-forward)."
    )
    planned_runs = models.PositiveIntegerField(default=0, help_text="Runs the batch will create in all.")
    windows = models.JSONField(
        null=True,
        blank=True,
        help_text="Walk-forward windows: in-sample and out-of-sample spans, the "
        "chosen parameters and the out-of-sample run.",
    )
    summary = models.JSONField(null=True, blank=True, help_text="Built once, when the batch is final.")
    drift = models.JSONField(
        null=True, blank=True, help_text="Metric changes against the previous batch of the same schedule."
    )
    drift_alert = models.BooleanField(default=False, db_index=True)
    warnings = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    report_key = models.CharField(max_length=300, blank=True, help_text="Storage key of the batch PDF.")
    report_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"
        indexes = [models.Index(fields=["owner", "-created_at"]), models.Index(fields=["schedule", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name or self.mode} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in BATCH_FINAL_STATUSES


class Schedule(models.Model):
    """A batch definition fired by celery beat (django-celery-beat's PeriodicTask, kept in
    step by ``schedule_sync``): a five-field cron expression in ``timezone``, or an interval."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batch_schedules")
    name = models.CharField(max_length=200)
    definition = models.JSONField(help_text="A batch request, as POST /api/v1/batches takes it.")
    strategy = models.ForeignKey(
        "backtests.Strategy",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="schedules",
        help_text='The saved strategy the definition names ("strategy": id), if any.',
    )
    cron = models.CharField(
        max_length=120, blank=True, help_text="minute hour day-of-month month day-of-week, e.g. '0 6 * * 1-5'."
    )
    interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Fire every N seconds (instead of cron)."
    )
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/London.")
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="qm_schedule",
        editable=False,
    )
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_schedule_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    @property
    def when(self) -> str:
        if self.cron:
            return f"cron {self.cron} ({self.timezone})"
        return f"every {self.interval_seconds} s" if self.interval_seconds else "–"


class BatchLimit(models.Model):
    """A user's own ceiling on the runs one batch may create, above (or below) the default
    ``QM_BATCH_MAX_RUNS``. Edited in admin."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batch_limit")
    max_runs = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.user}: {self.max_runs:,} runs per batch"
