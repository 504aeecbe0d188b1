from django.core.management.base import BaseCommand

from backtests.strategies.templates import templates_load


class Command(BaseCommand):
    help = "Load (or refresh) the shipped strategy templates from backtests/strategy_templates/."

    def handle(self, *args, **options):
        self.stdout.write(f"{templates_load()} templates loaded")
