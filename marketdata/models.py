from django.db import models


class Dataset(models.Model):
    """A stored OHLCV series: what it is, where it lives and how good it is."""

    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    source = models.CharField(max_length=32)
    start = models.DateTimeField()
    end = models.DateTimeField()
    rows = models.PositiveIntegerField()
    bytes = models.PositiveBigIntegerField(default=0)
    storage_key = models.CharField(max_length=300)
    checksum = models.CharField(max_length=64)
    quality_report = models.JSONField(default=dict, blank=True)
    last_updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["symbol", "timeframe"]
        constraints = [models.UniqueConstraint(fields=["symbol", "timeframe", "source"],
                                               name="unique_dataset_symbol_timeframe_source")]

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} ({self.source})"
