from django.conf import settings
from django.db import models
from django.db.models import Q


class Dataset(models.Model):
    """A stored OHLCV series: what it is, where it lives and how good it is.

    Provider series (``source`` yahoo or synthetic) are shared caches with no owner, one per
    symbol, timeframe and source. Uploaded series (``source`` csv) belong to the user who
    uploaded them, are visible only to that user, and are never evicted by cache clean-up.
    """

    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    source = models.CharField(max_length=32)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="datasets",
        help_text="Set for uploads; empty for shared caches.",
    )
    name = models.CharField(max_length=200, blank=True, help_text="The uploaded file's name.")
    start = models.DateTimeField()
    end = models.DateTimeField()
    rows = models.PositiveIntegerField()
    bytes = models.PositiveBigIntegerField(default=0)
    storage_key = models.CharField(max_length=300)
    checksum = models.CharField(max_length=64)
    quality_report = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, null=True)
    last_updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["symbol", "timeframe"]
        constraints = [
            models.UniqueConstraint(
                fields=["symbol", "timeframe", "source"],
                condition=Q(owner__isnull=True),
                name="unique_shared_dataset_symbol_timeframe_source",
            ),
            models.UniqueConstraint(fields=["storage_key", "timeframe"], name="unique_dataset_storage_key"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} ({self.source})"

    @property
    def completeness_score(self) -> int | None:
        return (self.quality_report or {}).get("completeness_score")
