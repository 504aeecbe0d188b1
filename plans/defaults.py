"""The shipped plans. The data migration loads them; ``plan_for_user`` restores the default
one if it is missing (a flushed database, or an admin who deleted it)."""

from __future__ import annotations

SOURCES = ["synthetic", "yahoo", "dataset"]
PLANS = {
    "free": dict(
        name="Free",
        is_default=True,
        concurrent_runs=2,
        runs_per_day=500,
        bars_per_run=1_500_000,
        combinations_per_batch=100,
        schedules=2,
        schedule_min_interval_seconds=3600,
        pdf_reports=True,
        data_sources=SOURCES,
        submit_rate="10/min",
        priority=6,
    ),
    "pro": dict(
        name="Pro",
        is_default=False,
        concurrent_runs=8,
        runs_per_day=5_000,
        bars_per_run=3_000_000,
        combinations_per_batch=2_000,
        schedules=20,
        schedule_min_interval_seconds=900,
        pdf_reports=True,
        data_sources=SOURCES,
        submit_rate="60/min",
        priority=3,
    ),
    "elite": dict(
        name="Elite",
        is_default=False,
        concurrent_runs=32,
        runs_per_day=50_000,
        bars_per_run=5_000_000,
        combinations_per_batch=10_000,
        schedules=100,
        schedule_min_interval_seconds=300,
        pdf_reports=True,
        data_sources=SOURCES,
        submit_rate="600/min",
        priority=0,
    ),
}
DEFAULT_SLUG = "free"
