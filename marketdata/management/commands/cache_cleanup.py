"""manage.py cache_cleanup [--max-gb 10] [--older-than-days 30]"""

from django.conf import settings
from django.core.management.base import BaseCommand

from marketdata.services import dataset_cache_cleanup


class Command(BaseCommand):
    help = (
        "Evict cached provider series: those not updated for --older-than-days, then the least "
        "recently updated until the cache fits --max-gb (default QM_MAX_CACHE_SIZE_GB). Uploads are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-gb", type=float, default=None)
        parser.add_argument("--older-than-days", type=float, default=None)

    def handle(self, *args, max_gb, older_than_days, **options):
        max_gb = settings.QM_MAX_CACHE_SIZE_GB if max_gb is None else max_gb
        removed = dataset_cache_cleanup(max_bytes=int(max_gb * 1024**3), older_than_days=older_than_days)
        for meta in removed:
            self.stdout.write(
                f"removed {meta['symbol']} {meta['timeframe']} ({meta.get('size_bytes', 0):,} bytes, "
                f"updated {meta.get('last_updated')})"
            )
        freed = sum(m.get("size_bytes", 0) for m in removed)
        self.stdout.write(self.style.SUCCESS(f"{len(removed)} series removed, {freed:,} bytes freed"))
