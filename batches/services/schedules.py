"""Schedules: a batch definition fired by celery beat. Each schedule owns one django-celery-beat
PeriodicTask (kept in step by :func:`schedule_sync`) that sends ``batches.tasks.fire_schedule``
with the schedule's id; firing refreshes the data the batch reads and creates the batch.
"""

from __future__ import annotations

import json
import logging
import zoneinfo

from celery.schedules import crontab
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from backtests.strategies.saved import names_saved_strategy
from batches.models import Batch, Schedule
from batches.services.lifecycle import batch_create
from batches.services.plan import batch_plan
from marketdata.services import get_data_manager
from plans.selectors import plan_for_user
from plans.services import plan_check_schedule
from qm_platform.errors import CodedError

logger = logging.getLogger("qm.batches")

SCHEDULE_TASK = "batches.tasks.fire_schedule"
MIN_INTERVAL_SECONDS = 60


def schedule_check_timing(*, cron: str, interval_seconds: int | None, tz: str) -> None:
    """Exactly one of a five-field ``cron`` expression and ``interval_seconds`` (at least 60),
    and an IANA time zone. Raises CodedError INVALID_SCHEDULE naming the field."""
    if bool(cron) == bool(interval_seconds):
        raise CodedError(
            "INVALID_SCHEDULE",
            "give exactly one of 'cron' (e.g. '0 6 * * 1-5') or 'interval_seconds'",
            details={"field": "cron"},
        )
    if cron:
        fields = cron.split()
        if len(fields) != 5:
            raise CodedError(
                "INVALID_SCHEDULE",
                f"cron needs five fields (minute hour day-of-month month day-of-week), got {cron!r}",
                details={"field": "cron"},
            )
        try:
            _crontab(cron)
        except (ValueError, TypeError) as exc:
            raise CodedError("INVALID_SCHEDULE", f"cron {cron!r}: {exc}", details={"field": "cron"}) from None
    elif interval_seconds < MIN_INTERVAL_SECONDS:
        raise CodedError(
            "INVALID_SCHEDULE",
            f"interval_seconds must be at least {MIN_INTERVAL_SECONDS}",
            details={"field": "interval_seconds"},
        )
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CodedError(
            "INVALID_SCHEDULE",
            f"unknown timezone {tz!r}; use an IANA name such as 'Europe/London'",
            details={"field": "timezone"},
        ) from None


def _crontab(cron: str) -> crontab:
    """A five-field cron expression as Celery's crontab (whose positional order differs:
    minute, hour, day_of_week, day_of_month, month_of_year)."""
    minute, hour, day_of_month, month, day_of_week = cron.split()
    return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week)


def schedule_min_interval(*, cron: str, interval_seconds: int | None) -> float:
    """The shortest time between two firings, in seconds: the interval, or for a cron
    expression the smallest gap between consecutive matching minutes over the 31-day months of a
    year's cycle (a cron fires at most once a minute, so '* * * * *' gives 60)."""
    if not cron:
        return float(interval_seconds or 0)
    parsed = _crontab(cron)
    minutes = [m * 60 + h * 3600 for h in sorted(parsed.hour) for m in sorted(parsed.minute)]
    if len(minutes) > 1:
        gaps = [b - a for a, b in zip(minutes, minutes[1:])] + [minutes[0] + 86400 - minutes[-1]]
        return float(min(gaps))
    days_per_week = len(parsed.day_of_week) if len(parsed.day_of_month) == 31 else len(parsed.day_of_month)
    return 86400.0 if days_per_week > 1 else 86400.0 * 7


def _check_plan(*, user, cron: str, interval_seconds: int | None, adding: int) -> None:
    plan = plan_for_user(user=user)
    plan_check_schedule(
        plan=plan,
        schedules=Schedule.objects.filter(owner=user).count() + adding,
        interval_seconds=schedule_min_interval(cron=cron, interval_seconds=interval_seconds),
    )


def schedule_create(
    *,
    user,
    name: str,
    definition: dict,
    cron: str = "",
    interval_seconds: int | None = None,
    timezone_name: str = "UTC",
    enabled: bool = True,
) -> Schedule:
    """Validate the batch definition (as a batch request) and the timing, save the schedule
    and its celery-beat PeriodicTask."""
    schedule_check_timing(cron=cron, interval_seconds=interval_seconds, tz=timezone_name)
    _check_plan(user=user, cron=cron, interval_seconds=interval_seconds, adding=1)
    plan = batch_plan(user=user, definition=definition)
    if Schedule.objects.filter(owner=user, name=name).exists():
        raise CodedError("DUPLICATE_NAME", f"you already have a schedule named {name!r}", details={"field": "name"})
    with transaction.atomic():
        schedule = Schedule.objects.create(
            owner=user,
            name=name,
            definition=definition,
            strategy=plan.strategy,
            cron=cron,
            interval_seconds=interval_seconds,
            timezone=timezone_name,
            enabled=enabled,
        )
        schedule_sync(schedule=schedule)
    return schedule


def schedule_update(*, schedule: Schedule, **changes) -> Schedule:
    """Change any of name, definition, cron, interval_seconds, timezone_name, enabled
    (switching cron ↔ interval clears the other), re-validate and re-sync the PeriodicTask."""
    if "cron" in changes and changes["cron"]:
        changes.setdefault("interval_seconds", None)
    if changes.get("interval_seconds"):
        changes.setdefault("cron", "")
    if "timezone_name" in changes:
        changes["timezone"] = changes.pop("timezone_name")
    for key, value in changes.items():
        setattr(schedule, key, value)
    schedule_check_timing(cron=schedule.cron, interval_seconds=schedule.interval_seconds, tz=schedule.timezone)
    _check_plan(user=schedule.owner, cron=schedule.cron, interval_seconds=schedule.interval_seconds, adding=0)
    if "definition" in changes:
        schedule.strategy = batch_plan(user=schedule.owner, definition=schedule.definition).strategy
    if Schedule.objects.filter(owner=schedule.owner, name=schedule.name).exclude(id=schedule.id).exists():
        raise CodedError(
            "DUPLICATE_NAME", f"you already have a schedule named {schedule.name!r}", details={"field": "name"}
        )
    with transaction.atomic():
        schedule.save()
        schedule_sync(schedule=schedule)
    return schedule


def schedule_delete(*, schedule: Schedule) -> None:
    """Delete the schedule and its PeriodicTask (its batches stay, without a schedule)."""
    with transaction.atomic():
        task = schedule.periodic_task
        schedule.delete()
        if task is not None:
            task.delete()


def schedule_sync(*, schedule: Schedule) -> PeriodicTask:
    """Create or update the schedule's PeriodicTask (crontab in the schedule's timezone, or
    an interval) so celery beat fires ``fire_schedule(schedule.id)``."""
    crontab_schedule = interval = None
    if schedule.cron:
        minute, hour, day_of_month, month_of_year, day_of_week = schedule.cron.split()
        crontab_schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone=zoneinfo.ZoneInfo(schedule.timezone),
        )
    else:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=schedule.interval_seconds, period=IntervalSchedule.SECONDS
        )
    fields = dict(
        name=f"qm-batch-schedule-{schedule.id}",
        task=SCHEDULE_TASK,
        args=json.dumps([schedule.id]),
        crontab=crontab_schedule,
        interval=interval,
        enabled=schedule.enabled,
        description=f"QuantMetrics batch schedule {schedule.name!r} of {schedule.owner}",
    )
    task = schedule.periodic_task or PeriodicTask.objects.filter(name=fields["name"]).first()
    if task is None:
        task = PeriodicTask.objects.create(**fields)
    else:
        for key, value in fields.items():
            setattr(task, key, value)
        task.save()
    if schedule.periodic_task_id != task.id:
        Schedule.objects.filter(id=schedule.id).update(periodic_task=task)
        schedule.periodic_task = task
    return task


def _refresh_data(definition: dict, body: dict) -> list[str]:
    """Bring the stored data the batch will read up to date (provider series only), so a
    scheduled batch measures the strategy on fresh bars. Returns warnings, never raises."""
    ctx = body.get("marketContext", {})
    source = ctx.get("dataSource", settings.QM_DEFAULT_DATA_SOURCE)
    if not isinstance(source, str) or source.isdigit():
        return []  # an uploaded dataset has nothing to refresh
    warnings = []
    manager = get_data_manager()
    for market in definition.get("markets") or [ctx.get("market")]:
        for timeframe in definition.get("timeframes") or [ctx.get("timeframe")]:
            try:
                manager.refresh(str(market).upper(), timeframe, source)
            except Exception as exc:  # a provider failing must not stop the batch: it runs on what is stored
                warnings.append(f"could not refresh {market} {timeframe} from {source}: {exc}")
    return warnings


def schedule_fire(*, schedule_id) -> Batch | None:
    """Celery beat fired a schedule: refresh the data it needs and create its batch. A
    definition that no longer validates is recorded on the schedule (``last_error``); one that
    names a saved strategy whose version no longer compiles (or that was deleted) pauses the
    schedule, saying why, until the user fixes the strategy and enables it again."""
    schedule = Schedule.objects.select_related("owner").filter(id=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return None
    Schedule.objects.filter(id=schedule.id).update(last_fired_at=timezone.now())
    definition = dict(schedule.definition, name=schedule.definition.get("name") or schedule.name)
    try:
        plan = batch_plan(user=schedule.owner, definition=definition)
        warnings = _refresh_data(definition, plan.base_body)
        batch = batch_create(user=schedule.owner, plan=plan, schedule=schedule, warnings=warnings)
    except CodedError as exc:
        if names_saved_strategy(definition):
            schedule_pause(schedule=schedule, reason=_strategy_problem(definition, exc))
        else:
            Schedule.objects.filter(id=schedule.id).update(last_error=f"{exc.code}: {exc.message}")
        logger.warning("schedule %s could not create its batch: %s", schedule.id, exc.message)
        return None
    Schedule.objects.filter(id=schedule.id).update(last_error="")
    return batch


def _strategy_problem(definition: dict, exc: CodedError) -> str:
    version = definition.get("version") or "latest"
    if exc.code == "NOT_FOUND":
        return (
            f"Paused: the saved strategy {definition['strategy']} (version {version}) no longer exists. {exc.message}"
        )
    return (
        f"Paused: the saved strategy {definition['strategy']} (version {version}) no longer compiles: "
        f"{exc.code}: {exc.message} Fix the strategy, then enable the schedule again."
    )


def schedule_pause(*, schedule: Schedule, reason: str) -> None:
    """Disable the schedule (and its PeriodicTask) with ``reason`` in ``last_error``."""
    with transaction.atomic():
        Schedule.objects.filter(id=schedule.id).update(enabled=False, last_error=reason[:2000])
        schedule.enabled, schedule.last_error = False, reason[:2000]
        schedule_sync(schedule=schedule)
