from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from backtests import services
from backtests.models import Artifact, BacktestRun, Strategy, StrategyTemplate, Trade
from qm_platform.errors import CodedError


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "updated_at")
    search_fields = ("name",)
    list_filter = ("owner",)


@admin.register(StrategyTemplate)
class StrategyTemplateAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "kind", "updated_at")
    list_filter = ("kind",)
    search_fields = ("id", "name", "description")


class TradeInline(admin.TabularInline):
    model = Trade
    extra = 0
    can_delete = False
    fields = (
        "seq",
        "direction",
        "entry_time",
        "entry_price",
        "exit_time",
        "exit_price",
        "size",
        "pnl",
        "pnl_pct",
        "exit_reason",
        "bars_held",
    )
    readonly_fields = fields
    max_num = 0
    show_change_link = False


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


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "market",
        "timeframe",
        "direction",
        "status",
        "progress",
        "duration",
        "trade_count",
        "error_code",
        "attempts",
        "cached",
        "created_at",
        "pdf_link",
    )
    list_filter = (HealthFilter, "status", "market", "timeframe", "error_code", "cached")
    search_fields = ("id", "market", "owner__username")
    readonly_fields = [f.name for f in BacktestRun._meta.fields] + ["pdf_link", "page_link"]
    inlines = [ArtifactInline, TradeInline]
    actions = ["rerun"]
    date_hierarchy = "created_at"

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
