"""manage.py import_csv FILE --symbol XAUUSD [--timeframe 1h] [--tz UTC] [--policy reject|repair]"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from marketdata.services import dataset_import_csv
from marketdata.timeframes import TIMEFRAME_SECONDS
from marketdata.validation import POLICIES
from qm_platform.errors import CodedError


class Command(BaseCommand):
    help = "Import a CSV of OHLCV bars as a dataset (validated; a bad file stores nothing)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--symbol", required=True)
        parser.add_argument("--timeframe", choices=list(TIMEFRAME_SECONDS), help="default: inferred")
        parser.add_argument("--tz", help="timezone of times without an offset (e.g. UTC, Europe/London)")
        parser.add_argument("--policy", choices=list(POLICIES), default="reject")
        parser.add_argument("--owner", help="username that owns the dataset (default: the first superuser)")

    def handle(self, *args, file, symbol, timeframe, tz, policy, owner, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"no such file: {file}")
        users = get_user_model().objects
        user = users.filter(username=owner).first() if owner else users.filter(is_superuser=True).order_by("id").first()
        if user is None:
            raise CommandError(f"no user {owner!r}" if owner else "no superuser to own the dataset; pass --owner")
        try:
            with path.open("rb") as file:
                result = dataset_import_csv(
                    user=user, data=file, symbol=symbol, timeframe=timeframe, tz=tz, policy=policy, name=path.name
                )
        except CodedError as exc:
            lines = [f"{exc.code}: {exc.message}"]
            for problem in exc.details.get("problems", [])[:20]:
                lines.append(f"  line {problem.get('line') or '-'}: {problem['message']}")
            raise CommandError("\n".join(lines)) from None
        dataset = result.dataset
        for note in result.notes:
            self.stderr.write(self.style.WARNING(note))
        self.stdout.write(
            self.style.SUCCESS(
                f"dataset {dataset.id}: {dataset.symbol} {dataset.timeframe} {dataset.start:%Y-%m-%d %H:%M} to "
                f"{dataset.end:%Y-%m-%d %H:%M} UTC, {dataset.rows:,} bars, quality "
                f"{dataset.quality_report.get('completeness_score')}/100, owner {user.username}"
            )
        )
