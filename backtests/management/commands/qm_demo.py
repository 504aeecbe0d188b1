"""Create the demo user, token and strategy (idempotent). Used by scripts/demo.sh; the demo
schedule is ``manage.py qm_demo_schedule`` (batches)."""

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
        self.stdout.write(token.key)
