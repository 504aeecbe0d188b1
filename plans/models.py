"""Plans (Free / Pro / Elite, editable in admin) and which plan each user is on.

A plan is data, not code: its limits are read when a user submits or dispatches work. A user
without an assignment is on the default plan (Free).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models

RATE = RegexValidator(r"^\d+/(s|sec|m|min|h|hour|d|day)$", "a rate such as 10/min, 600/hour or 5000/day")


class Plan(models.Model):
    slug = models.SlugField(primary_key=True, max_length=32)
    name = models.CharField(max_length=64)
    is_default = models.BooleanField(default=False, help_text="New accounts start on this plan (exactly one).")
    concurrent_runs = models.PositiveIntegerField(help_text="Runs of one user in the broker or running at once.")
    runs_per_day = models.PositiveIntegerField(help_text="Runs a user may create per UTC day (batch runs count).")
    bars_per_run = models.PositiveIntegerField(help_text="Bars in one run's window, warm-up included.")
    combinations_per_batch = models.PositiveIntegerField(help_text="Runs one batch may create.")
    schedules = models.PositiveIntegerField(help_text="Batch schedules a user may keep.")
    schedule_min_interval_seconds = models.PositiveIntegerField(help_text="Shortest time between two firings.")
    pdf_reports = models.BooleanField(default=True, help_text="Runs get a PDF report.")
    data_sources = models.JSONField(
        default=list, help_text='Allowed sources: any of "synthetic", "yahoo", "dataset" (uploads).'
    )
    submit_rate = models.CharField(max_length=16, validators=[RATE], help_text="API submissions, e.g. 10/min.")
    priority = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(9)],
        help_text="Celery priority of the plan's runs: 0 is served first (Redis), 9 last; every level is served.",
    )

    class Meta:
        ordering = ["priority"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True), name="one_default_plan")
        ]

    def __str__(self) -> str:
        return self.name


class UserPlan(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plan_assignment")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="assignments")
    assigned_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} on {self.plan}"
