from django.contrib import admin, messages
from django.db.models import Count, JSONField, OuterRef, Subquery
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from backtests import services
from backtests.models import Artifact, BacktestRun, Strategy, StrategyTemplate, StrategyVersion, Trade
from qm_platform.admin_display import json_summary, moment, number, short_id, sparkline, table
from qm_platform.errors import CodedError
from reports import kpis
from reports.charts import price_decimals


class StrategyVersionInline(admin.TabularInline):
    """Versions are immutable: shown, never added, changed or deleted here."""

    model = StrategyVersion
    extra = 0
    can_delete = False
    fields = ("number", "summary", "created_at", "body_json")
    readonly_fields = fields
    ordering = ("-number",)

    @admin.display(description="Body")
    def body_json(self, version):
        return json_summary(version.body, lines=0)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    """Saved strategies with their owner, latest version, runs and the last run's metrics. The
    body changes only through the library (a new version each time), so it is read-only here."""

    list_display = ("name", "owner", "kind", "market", "latest_version", "run_count", "last_run", "updated_at")
    list_select_related = ("owner",)
    search_fields = ("name", "owner__username", "tags")
    list_filter = ("kind",)
    fields = ("owner", "name", "description", "tags", "kind", "market", "latest_version", "definition_json")
    fields += ("created_at", "updated_at")
    readonly_fields = ("kind", "market", "latest_version", "definition_json", "created_at", "updated_at")
    inlines = [StrategyVersionInline]

    def has_add_permission(self, request):
        return False  # a strategy starts with its first version, through the library or the API

    def get_queryset(self, request):
        last = BacktestRun.objects.filter(strategy=OuterRef("pk")).order_by("-created_at")
        return (
            super()
            .get_queryset(request)
            .annotate(
                run_total=Count("runs", distinct=True),
                last_run_status=Subquery(last.values("status")[:1]),
                last_run_metrics=Subquery(last.values("metrics")[:1], output_field=JSONField()),
            )
        )

    @admin.display(description="Definition")
    def definition_json(self, obj):
        """The latest version's body, folded (a request body as POST /backtests takes it)."""
        return json_summary(obj.definition, lines=0)

    @admin.display(description="runs", ordering="run_total")
    def run_count(self, obj) -> int:
        return obj.run_total

    @admin.display(description="last run")
    def last_run(self, obj) -> str:
        if obj.last_run_status is None:
            return "–"
        metrics = obj.last_run_metrics or {}
        if obj.last_run_status != "SUCCEEDED" or not metrics:
            return obj.last_run_status.lower()
        parts = [
            ("Sharpe", metrics.get("sharpe"), "{:.2f}"),
            ("net", metrics.get("net_return_pct"), "{:+.2f}%"),
            ("max DD", metrics.get("max_drawdown_pct"), "{:.2f}%"),
            ("trades", metrics.get("trade_count"), "{}"),
        ]
        return " · ".join(f"{label} {fmt.format(value)}" for label, value, fmt in parts if value is not None)


@admin.register(StrategyTemplate)
class StrategyTemplateAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "kind", "updated_at")
    list_filter = ("kind",)
    search_fields = ("id", "name", "description")


class TradeInline(admin.TabularInline):
    """The trade table as a trader reads it: prices in the instrument's decimals, money and
    percentages rounded."""

    model = Trade
    extra = 0
    can_delete = False
    fields = (
        "seq",
        "direction",
        "entered",
        "entry",
        "exited",
        "exit",
        "units",
        "net_pnl",
        "return_pct",
        "r",
        "exit_reason",
        "bars_held",
    )
    readonly_fields = fields
    max_num = 0
    show_change_link = False

    @admin.display(description="Entry (UTC)")
    def entered(self, trade):
        return moment(trade.entry_time)

    @admin.display(description="Exit (UTC)")
    def exited(self, trade):
        return moment(trade.exit_time)

    @admin.display(description="Entry price")
    def entry(self, trade):
        return number(trade.entry_price, price_decimals([trade.entry_price or 0]))

    @admin.display(description="Exit price")
    def exit(self, trade):
        return number(trade.exit_price, price_decimals([trade.entry_price or 0]))

    @admin.display(description="Size")
    def units(self, trade):
        return number(trade.size, 2 if abs(trade.size or 0) >= 1 else 4)

    @admin.display(description="P&L")
    def net_pnl(self, trade):
        return number(trade.pnl, 2, signed=True)

    @admin.display(description="Return")
    def return_pct(self, trade):
        return number(trade.pnl_pct, 2, suffix=" %", signed=True)

    @admin.display(description="R")
    def r(self, trade):
        return number(trade.r_multiple, 2, signed=True)


class ArtifactInline(admin.TabularInline):
    model = Artifact
    extra = 0
    readonly_fields = ("kind", "storage_key", "bytes", "sha256", "created_at")
    can_delete = False
    max_num = 0


class HealthFilter(admin.SimpleListFilter):
    """Runs that need an operator's eye: stuck (RUNNING, heartbeat stale), failed, retried."""

    title = "attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("stuck", "Stuck (no heartbeat)"), ("failed", "Failed"), ("retried", "Retried (attempts > 1)")]

    def queryset(self, request, queryset):
        from django.conf import settings
        from django.utils import timezone

        if self.value() == "stuck":
            cutoff = timezone.now() - timezone.timedelta(seconds=settings.QM_HEARTBEAT_TIMEOUT)
            return queryset.filter(status="RUNNING", heartbeat_at__lt=cutoff)
        if self.value() == "failed":
            return queryset.filter(status="FAILED")
        if self.value() == "retried":
            return queryset.filter(attempts__gt=1)
        return queryset


class ErrorCodeFilter(admin.SimpleListFilter):
    """The error codes that occur, by name; runs without one as "No error" (Django's own filter
    would list the empty code as a link with no text)."""

    title = "error code"
    parameter_name = "error"

    def lookups(self, request, model_admin):
        codes = BacktestRun.objects.exclude(error_code="").order_by("error_code").values_list("error_code", flat=True)
        return [("none", "No error"), *((code, code) for code in codes.distinct())]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(error_code="")
        if self.value():
            return queryset.filter(error_code=self.value())
        return queryset


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
    """Runs as a product page: a short id, the KPIs rounded to their units, the equity curve as
    a sparkline, links to the PDF and the app's page; the stored JSON only folded away."""

    list_display = (
        "short_id",
        "owner",
        "market",
        "timeframe",
        "direction",
        "status_badge",
        "progress",
        "duration",
        "trade_count",
        "net_return",
        "error_code",
        "attempts",
        "cached",
        "created_at",
        "pdf_link",
    )
    list_display_links = ("short_id",)
    list_filter = (HealthFilter, "status", "market", "timeframe", ErrorCodeFilter, "cached")
    search_fields = ("id", "market", "owner__username")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("id", "owner"),
                    ("status_badge", "progress", "stage"),
                    ("market", "timeframe", "direction"),
                    ("batch", "batch_params_text"),
                    ("page_link", "pdf_link"),
                )
            },
        ),
        ("Results", {"fields": ("metrics_summary", "equity_sparkline", "trade_count")}),
        (
            "Data",
            {"fields": (("data_source", "bars"), ("data_start", "data_end", "warmup_start"), "data_quality_summary")},
        ),
        (
            "Timing and delivery",
            {
                "fields": (
                    ("created_at", "started_at", "finished_at", "duration"),
                    ("attempts", "cached", "cache_source"),
                    ("engine_version", "data_checksum"),
                )
            },
        ),
        ("Problems", {"fields": ("error_code", "error_message", "report_error", "warnings_list")}),
        ("Request", {"classes": ("collapse",), "fields": ("request_json",)}),
    )
    readonly_fields = [f.name for f in BacktestRun._meta.fields] + [
        "short_id",
        "status_badge",
        "net_return",
        "pdf_link",
        "page_link",
        "duration",
        "metrics_summary",
        "equity_sparkline",
        "data_quality_summary",
        "warnings_list",
        "request_json",
        "batch_params_text",
    ]
    inlines = [ArtifactInline, TradeInline]
    actions = ["rerun"]
    date_hierarchy = "created_at"

    @admin.display(description="Run", ordering="id")
    def short_id(self, run):
        return short_id(run.id)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, run):
        return format_html('<span class="qm-badge {}">{}</span>', run.status, run.get_status_display())

    @admin.display(description="Net return")
    def net_return(self, run):
        return number((run.metrics or {}).get("net_return_pct"), 2, suffix=" %", signed=True)

    @admin.display(description="Key figures")
    def metrics_summary(self, run):
        if not run.metrics:
            return "–"
        return table((card["label"], card["text"]) for card in kpis.summary(run.metrics, run.trade_count))

    @admin.display(description="Equity")
    def equity_sparkline(self, run):
        curve = run.equity_curve or []
        values = [point[1] for point in curve if isinstance(point, (list, tuple)) and len(point) > 1]
        if len(values) < 2:
            return "–"
        return format_html(
            '{} <span class="help">{} → {} ({} points stored)</span>',
            sparkline(values, label=f"equity of run {run.id}"),
            number(values[0], 2),
            number(values[-1], 2),
            f"{len(values):,}",
        )

    @admin.display(description="Data quality")
    def data_quality_summary(self, run):
        return json_summary(run.data_quality, lines=8)

    @admin.display(description="Warnings")
    def warnings_list(self, run):
        if not run.warnings:
            return "–"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in run.warnings)))

    @admin.display(description="Request (as submitted)")
    def request_json(self, run):
        return json_summary(run.request, lines=0)

    @admin.display(description="Batch parameters")
    def batch_params_text(self, run):
        params = run.batch_params or {}
        return ", ".join(f"{k} = {v}" for k, v in params.items()) or "–"

    @admin.display(description="Duration")
    def duration(self, run):
        seconds = run.duration_seconds
        return f"{seconds:.2f} s" if seconds is not None else "–"

    @admin.display(description="PDF")
    def pdf_link(self, run):
        if not any(a.kind == "report_pdf" for a in run.artifacts.all()):
            return "–"
        return format_html('<a href="{}">PDF</a>', reverse("backtest-report-pdf", kwargs={"pk": run.id}))

    @admin.display(description="Page")
    def page_link(self, run):
        return format_html('<a href="{}">results page</a>', reverse("run-page", kwargs={"pk": run.id}))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner").prefetch_related("artifacts")

    def has_add_permission(self, request):
        return False  # runs are submitted through the API or the builders

    def has_change_permission(self, request, obj=None):
        return False  # only the services change a run; a Save here would write the whole row over a worker's

    @admin.action(description="Re-run selected backtests")
    def rerun(self, request, queryset):
        created = 0
        for run in queryset:
            try:
                services.backtest_rerun(run=run, user=run.owner)
                created += 1
            except CodedError as exc:
                self.message_user(request, f"{run.id}: {exc.code} {exc.message}", messages.ERROR)
        self.message_user(request, f"{created} run(s) queued again.", messages.SUCCESS)
