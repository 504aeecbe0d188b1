"""Create the demo user, token and strategy (idempotent). Used by scripts/demo.sh."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from backtests.api.views import EXAMPLE_V4
from backtests.models import Strategy

DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"


class Command(BaseCommand):
    help = "Create the demo admin user (demo / demo-password), its API token and a demo strategy."

    def handle(self, *args, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_USER, defaults={"is_staff": True, "is_superuser": True, "email": "demo@example.com"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        token, _ = Token.objects.get_or_create(user=user)
        Strategy.objects.get_or_create(owner=user, name="RSI dip buyer (demo)", defaults={"definition": EXAMPLE_V4})
        _demo_schedule(user)
        self.stdout.write(token.key)


DEMO_SCHEDULE = "RSI period sweep every 15 minutes (demo)"


def _demo_schedule(user) -> None:
    """One enabled schedule (idempotent): a three-combination RSI sweep on the last two months,
    fired by celery beat every 15 minutes, so its batches and their drift show up in admin."""
    from backtests.batches import services as batch_services
    from backtests.batches.models import Schedule

    schedule = Schedule.objects.filter(owner=user, name=DEMO_SCHEDULE).first()
    if schedule is None:
        batch_services.schedule_create(
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
        batch_services.schedule_update(schedule=schedule, enabled=True)
