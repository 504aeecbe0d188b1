"""Plan limits, checked before anything is saved or enqueued.

The checks take the usage as numbers (counted by the caller, which owns the rows): this app
sits below backtests and batches and never reads their tables. Exceeding a counted quota is
429 QUOTA_EXCEEDED with the limit, the use and when it resets; asking for something the plan
does not include is 403 PLAN_LIMIT.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from plans.models import Plan
from qm_platform.errors import CodedError


def day_start(now: datetime | None = None) -> datetime:
    """Midnight UTC of today: daily quotas count from here and reset a day later."""
    now = now or timezone.now()
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def quota_check_runs(*, plan: Plan, runs_today: int, adding: int = 1, now: datetime | None = None) -> None:
    if runs_today + adding > plan.runs_per_day:
        resets = day_start(now) + timedelta(days=1)
        raise CodedError(
            "QUOTA_EXCEEDED",
            f"the {plan.name} plan allows {plan.runs_per_day:,} runs a day; you have created {runs_today:,} today"
            + (f" and this asks for {adding:,} more" if adding > 1 else "")
            + f". The count resets at {resets:%Y-%m-%d %H:%M} UTC.",
            {
                "limit": "runs_per_day",
                "allowed": plan.runs_per_day,
                "used": runs_today,
                "requested": adding,
                "resets_at": resets.isoformat(),
                "plan": plan.slug,
            },
        )


def plan_check_run(*, plan: Plan, bars: int, source: str) -> None:
    """What one run may ask for: its window's bars and its data source."""
    if bars > plan.bars_per_run:
        raise CodedError(
            "PLAN_LIMIT",
            f"the window holds about {bars:,} bars; the {plan.name} plan allows {plan.bars_per_run:,} per run. "
            "Shorten the period or use a larger timeframe.",
            {"limit": "bars_per_run", "allowed": plan.bars_per_run, "requested": bars, "plan": plan.slug},
        )
    if source not in plan.data_sources:
        raise CodedError(
            "PLAN_LIMIT",
            f"the {plan.name} plan does not include the {source!r} data source "
            f"(it includes {', '.join(plan.data_sources) or 'none'})",
            {"limit": "data_sources", "allowed": plan.data_sources, "requested": source, "plan": plan.slug},
        )


def plan_check_batch(*, plan: Plan, combinations: int) -> None:
    if combinations > plan.combinations_per_batch:
        raise CodedError(
            "PLAN_LIMIT",
            f"the batch would create {combinations:,} runs; the {plan.name} plan allows "
            f"{plan.combinations_per_batch:,} per batch",
            {
                "limit": "combinations_per_batch",
                "allowed": plan.combinations_per_batch,
                "requested": combinations,
                "plan": plan.slug,
            },
        )


def plan_check_schedule(*, plan: Plan, schedules: int, interval_seconds: float) -> None:
    """``schedules``: the user's schedules after this one; ``interval_seconds``: the shortest
    time between two firings of the new one."""
    if schedules > plan.schedules:
        raise CodedError(
            "QUOTA_EXCEEDED",
            f"the {plan.name} plan allows {plan.schedules} schedules; delete one first",
            {"limit": "schedules", "allowed": plan.schedules, "used": schedules - 1, "plan": plan.slug},
        )
    if interval_seconds < plan.schedule_min_interval_seconds:
        raise CodedError(
            "PLAN_LIMIT",
            f"the schedule would fire every {interval_seconds:,.0f} s; the {plan.name} plan allows at most once "
            f"every {plan.schedule_min_interval_seconds:,} s",
            {
                "limit": "schedule_min_interval_seconds",
                "allowed": plan.schedule_min_interval_seconds,
                "requested": interval_seconds,
                "plan": plan.slug,
            },
        )
