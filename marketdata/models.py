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


class Instrument(models.Model):
    """A tradable symbol's terms: the engine's ``Instrument`` (backtests/engine/instrument.py,
    where each field is explained), seeded from marketdata/instruments.json and editable in the
    admin. A run reads its market's row when it is submitted and again when it runs."""

    ASSET_CLASSES = [(c, c) for c in ("fx", "metal", "index", "crypto", "stock", "future", "other")]
    FINANCING = [(c, c) for c in ("none", "swap", "borrow", "funding")]
    CALENDARS = [("fx", "24/5 FX and metals"), ("crypto", "24/7 crypto"), ("index", "exchange hours")]

    symbol = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200, blank=True)
    asset_class = models.CharField(max_length=16, choices=ASSET_CLASSES)
    quote_currency = models.CharField(max_length=8, default="USD")
    tick_size = models.FloatField(help_text="Price increment; fills round to it.")
    contract_size = models.FloatField(default=1.0, help_text="Units in one lot.")
    lot_step = models.FloatField(default=0.01, help_text="Lots; sizes round down to it.")
    min_lots = models.FloatField(default=0.01, help_text="Smallest size in lots; a smaller entry is skipped.")
    calendar = models.CharField(max_length=8, choices=CALENDARS, default="fx")
    spread = models.FloatField(default=0.0, help_text="Typical full spread in price (costs.fromInstrument).")
    commission_per_lot = models.FloatField(default=0.0, help_text="Money per lot per fill (costs.fromInstrument).")
    commission_pct = models.FloatField(default=0.0, help_text="% of a fill's value (costs.fromInstrument).")
    commission_per_fill = models.FloatField(default=0.0, help_text="Money per fill (costs.fromInstrument).")
    commission_min = models.FloatField(default=0.0, help_text="The least commission of a fill (costs.fromInstrument).")
    margin_rate = models.FloatField(default=0.1, help_text="Initial margin, fraction of the notional (0.05 = 20:1).")
    shortable = models.BooleanField(default=True)
    financing = models.CharField(max_length=8, choices=FINANCING, default="none")
    swap_long_pct = models.FloatField(default=0.0, help_text="% of the notional a long pays per night (- earns).")
    swap_short_pct = models.FloatField(default=0.0, help_text="% of the notional a short pays per night (- earns).")
    borrow_pct = models.FloatField(default=0.0, help_text="% a year a short pays (stocks).")
    funding_pct = models.FloatField(default=0.0, help_text="% per 8 hours a long pays and a short earns (perpetuals).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return self.symbol

    def as_engine(self):
        """The engine's Instrument (raises ValueError on values it refuses)."""
        from backtests.engine.instrument import Instrument as EngineInstrument

        return EngineInstrument.from_dict({name: getattr(self, name) for name in ENGINE_FIELDS})

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        try:
            self.as_engine()
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


ENGINE_FIELDS = (
    "symbol",
    "name",
    "asset_class",
    "quote_currency",
    "tick_size",
    "contract_size",
    "lot_step",
    "min_lots",
    "calendar",
    "spread",
    "commission_per_lot",
    "commission_pct",
    "commission_per_fill",
    "commission_min",
    "margin_rate",
    "shortable",
    "financing",
    "swap_long_pct",
    "swap_short_pct",
    "borrow_pct",
    "funding_pct",
)
