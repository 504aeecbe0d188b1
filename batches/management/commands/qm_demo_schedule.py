"""The demo schedule (idempotent): a three-combination RSI sweep fired by celery beat every 15
minutes for the demo user, so its batches and their drift show up in admin. Used by
scripts/demo.sh after ``manage.py qm_demo`` (which creates the user)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from backtests.api.views import EXAMPLE_V4
from backtests.management.commands.qm_demo import DEMO_USER
from batches.models import Schedule
from batches.services.schedules import schedule_create, schedule_update

DEMO_SCHEDULE = "RSI period sweep every 15 minutes (demo)"


class Command(BaseCommand):
    help = "Create (or re-enable) the demo user's batch schedule: an RSI period sweep every 15 minutes."

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=DEMO_USER).first()
        if user is None:
            raise CommandError(f"no user {DEMO_USER!r}: run manage.py qm_demo first")
        schedule = Schedule.objects.filter(owner=user, name=DEMO_SCHEDULE).first()
        if schedule is None:
            schedule_create(
                user=user,
                name=DEMO_SCHEDULE,
                interval_seconds=900,
                timezone_name="UTC",
                enabled=True,
                definition={
                    "name": "RSI period sweep (demo schedule)",
                    "strategy": EXAMPLE_V4,
                    "grid": {"decisionBlocks[0].subConfirmations[0].config.period": [7, 14, 21]},
                    "objective": "sharpe",
                },
            )
        elif not schedule.enabled or schedule.periodic_task_id is None:
            schedule_update(schedule=schedule, enabled=True)
