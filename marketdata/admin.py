from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from marketdata import services
from marketdata.models import Dataset, Instrument
from marketdata.timeframes import TIMEFRAME_SECONDS
from marketdata.validation import POLICIES, quality_summary
from qm_platform.admin_display import json_summary, number
from qm_platform.errors import CodedError


class CsvUploadForm(forms.Form):
    file = forms.FileField(help_text="A time column and Open/High/Low/Close[/Volume]; any case and separator.")
    symbol = forms.RegexField(r"^[A-Za-z0-9._\-=^]{1,32}$", help_text="e.g. XAUUSD")
    timeframe = forms.ChoiceField(
        choices=[("", "infer from the bar spacing")] + [(t, t) for t in TIMEFRAME_SECONDS], required=False
    )
    tz = forms.CharField(required=False, help_text="Timezone of times without an offset, e.g. UTC or America/New_York.")
    policy = forms.ChoiceField(choices=[(p, p) for p in POLICIES], initial="reject")


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("symbol", "timeframe", "source", "owner", "covers", "rows_text", "size", "score", "last_updated")
    list_filter = ("source", "timeframe")
    search_fields = ("symbol", "name")
    readonly_fields = (
        "symbol",
        "timeframe",
        "source",
        "owner",
        "name",
        "start",
        "end",
        "rows_text",
        "size",
        "storage_key",
        "checksum",
        "quality",
        "quality_report_json",
        "created_at",
        "last_updated",
    )
    exclude = ("quality_report", "rows", "bytes")  # shown as bars and size, rounded
    change_list_template = "admin/marketdata/dataset/change_list.html"

    @admin.display(description="covers", ordering="start")
    def covers(self, obj):
        return f"{obj.start:%Y-%m-%d %H:%M} → {obj.end:%Y-%m-%d %H:%M}"

    @admin.display(description="bars", ordering="rows")
    def rows_text(self, obj):
        return number(obj.rows, 0)

    @admin.display(description="size", ordering="bytes")
    def size(self, obj):
        return f"{number(obj.bytes / 1e6, 2)} MB" if obj.bytes >= 1e5 else f"{number(obj.bytes / 1e3, 1)} kB"

    @admin.display(description="quality")
    def score(self, obj):
        score = obj.completeness_score
        return number(score, 1) if isinstance(score, float) else score

    @admin.display(description="quality summary")
    def quality(self, obj):
        report = obj.quality_report or {}
        if not report:
            return "-"
        return quality_summary(report)

    @admin.display(description="quality report")
    def quality_report_json(self, obj):
        return json_summary(obj.quality_report or {}, lines=0)

    def has_add_permission(self, request):
        return False  # datasets come from providers or from the upload form

    def get_urls(self):
        return [
            path("upload-csv/", self.admin_site.admin_view(self.upload_csv), name="marketdata_dataset_upload")
        ] + super().get_urls()

    def upload_csv(self, request):
        form = CsvUploadForm(request.POST or None, request.FILES or None)
        problems = []
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = services.dataset_import_csv(
                    user=request.user,
                    data=data["file"],
                    symbol=data["symbol"],
                    timeframe=data["timeframe"] or None,
                    tz=data["tz"] or None,
                    policy=data["policy"],
                    name=data["file"].name,
                )
            except CodedError as exc:
                form.add_error(None, exc.message)
                problems = exc.details.get("problems", [])
            else:
                self.message_user(request, f"Imported {result.dataset}: {result.dataset.rows} bars.", messages.SUCCESS)
                return redirect(reverse("admin:marketdata_dataset_change", args=[result.dataset.id]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "problems": problems,
            "title": "Upload a CSV dataset",
        }
        return TemplateResponse(request, "admin/marketdata/dataset/upload_csv.html", context)


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    """The instrument table (seeded from marketdata/instruments.json): a run reads its market's
    row when it is submitted and when it runs. Values the engine refuses are refused here."""

    list_display = (
        "symbol",
        "asset_class",
        "quote_currency",
        "tick_size",
        "contract_size",
        "lot_step",
        "min_lots",
        "margin_rate",
        "financing",
        "updated_at",
    )
    list_filter = ("asset_class", "financing", "calendar")
    search_fields = ("symbol", "name")
    readonly_fields = ("updated_at",)
