"""Strategies, runs, trades and artifacts. Only services change a run's status."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from qm_platform.fields import ResultDocumentField, ResultJSONField


class StrategyKind(models.TextChoices):
    V4 = "v4", "Decision blocks (V4)"
    ICT = "ict", "ICT configuration (V5)"
    PORTFOLIO = "portfolio", "Portfolio (several markets, one account)"


class Strategy(models.Model):
    """A user's saved strategy: a name, a description, tags and a body (``definition``, the latest
    version's) that compiles as a submission would. Every change of the body makes a new immutable
    :class:`StrategyVersion`; runs, batches and schedules name a strategy and a version."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="strategies")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True, help_text='Short labels, e.g. ["mean-reversion", "fx"].')
    kind = models.CharField(max_length=16, choices=StrategyKind.choices, default=StrategyKind.V4)
    market = models.CharField(
        max_length=32,
        blank=True,
        db_index=True,
        help_text="The latest version's marketContext.market (a portfolio's first market).",
    )
    definition = models.JSONField(help_text="The latest version's body: a request body as POST /backtests takes it.")
    latest_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name_plural = "strategies"
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_strategy_name_per_owner")]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.name


class StrategyVersion(models.Model):
    """One immutable body of a strategy: written once by ``backtests.library.services``, never changed."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(help_text="1, 2, 3, ... in the order they were saved.")
    body = models.JSONField()
    summary = models.CharField(max_length=300, blank=True, help_text="What changed against the previous version.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["strategy", "number"]
        constraints = [models.UniqueConstraint(fields=["strategy", "number"], name="unique_version_per_strategy")]

    def __str__(self) -> str:
        return f"{self.strategy} v{self.number}"


class StrategyTemplate(models.Model):
    """A ready strategy (V4 decision blocks or a V5 ICT configuration), stored as data.

    Loaded from ``backtests/strategy_templates/*.json`` by a data migration and by
    ``manage.py load_templates``; runs with ``{"template": "<id>", ...overrides}``."""

    Kind = StrategyKind

    id = models.SlugField(primary_key=True, max_length=64)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.TextField()
    body = models.JSONField(help_text="The request body the template stands for.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class BacktestRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtest_runs")
    strategy = models.ForeignKey(Strategy, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    strategy_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The saved strategy's version the run came from (kept if it is deleted)."
    )
    request = models.JSONField(help_text="The validated request, as submitted.")
    market = models.CharField(max_length=32, db_index=True)
    timeframe = models.CharField(max_length=8)
    direction = models.CharField(max_length=8)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=32, default="queued")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    report_error = models.TextField(blank=True)
    data_quality = models.JSONField(null=True, blank=True, help_text="Quality report of the data window the run used.")
    warnings = models.JSONField(
        default=list, blank=True, help_text="Plain-language notes about the run, e.g. stale data served."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_token = models.CharField(
        max_length=32, blank=True, help_text="Changes at every claim; only its holder may write results."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from the worker running it."
    )
    idempotency_key = models.CharField(max_length=128, blank=True)
    request_fingerprint = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="sha256 of the canonical request and engine version."
    )
    cached = models.BooleanField(default=False, help_text="Answered from the result cache.")
    cache_source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cache_hits",
        help_text="The owner's own succeeded run whose results this one copied (never another user's).",
    )
    metrics = ResultJSONField(null=True, blank=True)
    trade_count = models.PositiveIntegerField(null=True, blank=True)
    equity_curve = ResultDocumentField(null=True, blank=True, help_text="Downsampled [time, equity] pairs.")
    report_data = ResultDocumentField(
        null=True,
        blank=True,
        help_text="What the report takes from the price data (buy-and-hold, trade windows), computed by "
        "the worker: reports.analysis.report_extras. Null for runs stored before it was kept.",
    )
    equity_detail = ResultDocumentField(
        null=True,
        blank=True,
        help_text="The equity curve for GET /equity: every bar up to backtests.services.EQUITY_DETAIL_POINTS, "
        "else thinned keeping each bucket's extremes; stored as columns (backtests.engine.downsample.equity_columns), "
        "older runs as [iso time, equity] pairs. Null for runs stored before it was kept.",
    )
    montecarlo = ResultDocumentField(
        null=True,
        blank=True,
        help_text="Monte Carlo robustness computed by the worker with the default settings, by method "
        "(backtests.engine.montecarlo). Null for runs stored before it was kept or without trades.",
    )
    timings = ResultJSONField(
        null=True,
        blank=True,
        help_text="Where the run's time went, in milliseconds by step (submit, claim, data, modules, simulate, "
        "metrics, report data, database writes, ...): backtests.services.RunClock; bench/throughput.py adds them up.",
    )
    engine_version = models.CharField(max_length=32, blank=True)
    data_checksum = models.CharField(max_length=64, blank=True)
    data_source = models.CharField(max_length=64, blank=True)
    warmup_start = models.DateTimeField(
        null=True, blank=True, help_text="Data from here only warms indicators up; trading starts at data_start."
    )
    data_start = models.DateTimeField(null=True, blank=True)
    data_end = models.DateTimeField(null=True, blank=True)
    bars = models.PositiveIntegerField(null=True, blank=True)
    batch = models.ForeignKey("batches.Batch", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    batch_params = models.JSONField(
        null=True, blank=True, help_text="In a batch: the combination's index and parameters (and window, phase)."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"]), models.Index(fields=["status", "heartbeat_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="unique_idempotency_key_per_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.timeframe} {self.direction} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Trade(models.Model):
    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="trades")
    seq = models.PositiveIntegerField(help_text="Position of the trade in the run, from 1.")
    market = models.CharField(
        max_length=32, blank=True, default="", help_text="The market traded: a portfolio's trades name theirs."
    )
    direction = models.CharField(max_length=8)
    entry_time = models.DateTimeField()
    entry_price = models.FloatField()
    exit_time = models.DateTimeField()
    exit_price = models.FloatField()
    size = models.FloatField(help_text="Units of the instrument.")
    pnl = models.FloatField(help_text="Net profit in account currency.")
    pnl_pct = models.FloatField(help_text="Price return of the trade in percent, signed by direction.")
    exit_reason = models.CharField(max_length=16)
    bars_held = models.PositiveIntegerField()
    fees = models.FloatField(default=0.0, help_text="commission + spread + slippage, money.")
    r_multiple = models.FloatField(null=True, blank=True)
    gross_pnl = models.FloatField(default=0.0, help_text="Profit before costs, money.")
    commission = models.FloatField(default=0.0)
    spread_cost = models.FloatField(default=0.0)
    slippage_cost = models.FloatField(default=0.0)
    mae = models.FloatField(default=0.0, help_text="Maximum adverse excursion, money (>= 0).")
    mfe = models.FloatField(default=0.0, help_text="Maximum favourable excursion, money (>= 0).")
    mae_r = models.FloatField(null=True, blank=True)
    mfe_r = models.FloatField(null=True, blank=True)
    initial_stop = models.FloatField(null=True, blank=True)
    initial_target = models.FloatField(null=True, blank=True)
    risk = models.FloatField(null=True, blank=True, help_text="Money at risk at the initial stop.")
    financing = models.FloatField(default=0.0, help_text="Swap, borrow or funding paid, money (negative: earned).")
    requested_size = models.FloatField(
        null=True, blank=True, help_text="Units the sizing asked for, before the leverage cap and the lot step."
    )

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_trade_seq_per_run")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.direction} {self.entry_time:%Y-%m-%d %H:%M} → {self.exit_reason}"


class Artifact(models.Model):
    class Kind(models.TextChoices):
        REPORT_PDF = "report_pdf"

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="artifacts")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    storage_key = models.CharField(max_length=300)
    bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "kind"], name="unique_artifact_kind_per_run")]

    def __str__(self) -> str:
        return f"{self.kind} of run {self.run_id}"
