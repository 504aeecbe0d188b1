"""manage.py fetch_data SYMBOL TIMEFRAME [--period 1y | --start ... --end ...] [--source yahoo]"""

from django.core.management.base import BaseCommand, CommandError

from marketdata.services import dataset_fetch
from marketdata.storage.base import utc
from marketdata.timeframes import TIMEFRAME_SECONDS, floor_time, period_to_timedelta, utcnow
from qm_platform.errors import CodedError


class Command(BaseCommand):
    help = "Download (or top up) a market's bars into the cache and record the dataset."

    def add_arguments(self, parser):
        parser.add_argument("symbol")
        parser.add_argument("timeframe", choices=list(TIMEFRAME_SECONDS))
        parser.add_argument("--period", default="1mo", help="1mo, 2mo, 6mo, 1y, 2y, 5y or max, ending now")
        parser.add_argument("--start", help="ISO 8601 start (UTC if no offset); overrides --period")
        parser.add_argument("--end", help="ISO 8601 end (UTC if no offset; default now)")
        parser.add_argument("--source", default="yahoo", choices=["yahoo", "synthetic"])

    def handle(self, *args, symbol, timeframe, period, start, end, source, **options):
        end_ts = utc(end) if end else utc(floor_time(utcnow(), timeframe))
        try:
            start_ts = utc(start) if start else end_ts - period_to_timedelta(period)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if source == "yahoo":
            from marketdata.providers import DataRangeUnavailable
            from marketdata.providers.yahoo import check_range

            try:
                check_range(timeframe, start_ts, end_ts)
            except DataRangeUnavailable as exc:
                raise CommandError(exc.message) from None
        try:
            dataset, loaded = dataset_fetch(
                symbol=symbol, timeframe=timeframe, source=source, start=start_ts, end=end_ts
            )
        except CodedError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        for warning in loaded.warnings:
            self.stderr.write(self.style.WARNING(warning))
        if dataset is None:
            raise CommandError(f"no {symbol} {timeframe} bars from {source} between {start_ts} and {end_ts}")
        report = dataset.quality_report
        self.stdout.write(
            self.style.SUCCESS(
                f"dataset {dataset.id}: {dataset.symbol} {dataset.timeframe} ({dataset.source}) "
                f"{dataset.start:%Y-%m-%d %H:%M} to {dataset.end:%Y-%m-%d %H:%M} UTC, "
                f"{dataset.rows:,} bars, {dataset.bytes:,} bytes, quality "
                f"{report.get('completeness_score')}/100 ({len(loaded.frame):,} bars in the window, "
                f"{'from cache' if loaded.from_cache else 'downloaded'})"
            )
        )
