"""The demo schedule (idempotent): a three-combination RSI sweep for the demo user, fired by
celery beat on weekdays at 06:00 UTC, created *disabled* so the demo never starts runs nobody
asked for. Enable it in admin (Batches › Schedules) or with ``--enable`` to see scheduled
batches and their drift. Used by scripts/demo.sh after ``manage.py qm_demo`` (which creates the
user)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from backtests.api.views import EXAMPLE_V4
from backtests.management.commands.qm_demo import DEMO_USER
from batches.models import Schedule
from batches.services.schedules import schedule_create, schedule_update

DEMO_SCHEDULE = "RSI period sweep on weekday mornings (demo)"
DEMO_CRON = "0 6 * * 1-5"


class Command(BaseCommand):
    help = "Create the demo user's batch schedule (an RSI period sweep on weekdays at 06:00 UTC), disabled."

    def add_arguments(self, parser):
        parser.add_argument("--enable", action="store_true", help="Enable the schedule (beat fires it).")

    def handle(self, *args, enable: bool = False, **options):
        user = get_user_model().objects.filter(username=DEMO_USER).first()
        if user is None:
            raise CommandError(f"no user {DEMO_USER!r}: run manage.py qm_demo first")
        schedule = Schedule.objects.filter(owner=user, name=DEMO_SCHEDULE).first()
        if schedule is None:
            schedule = schedule_create(
                user=user,
                name=DEMO_SCHEDULE,
                cron=DEMO_CRON,
                timezone_name="UTC",
                enabled=enable,
                definition={
                    "name": "RSI period sweep (demo schedule)",
                    "strategy": EXAMPLE_V4,
                    "grid": {"decisionBlocks[0].subConfirmations[0].config.period": [7, 14, 21]},
                    "objective": "sharpe",
                },
            )
        elif enable and not schedule.enabled:
            schedule_update(schedule=schedule, enabled=True)
        state = (
            "enabled" if schedule.enabled else "disabled (enable it in admin, or: manage.py qm_demo_schedule --enable)"
        )
        self.stdout.write(f"demo schedule {schedule.name!r}: {schedule.when}, {state}")
