"""Admin for batches (drift shown in the list), schedules (edited here, kept in step with
their celery-beat PeriodicTask by the services) and per-user batch limits."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from batches.models import Batch, BatchLimit, Schedule
from batches.services.lifecycle import batch_cancel
from batches.services.plan import batch_plan
from batches.services.schedules import schedule_check_timing, schedule_delete, schedule_fire, schedule_sync
from qm_platform.admin_display import json_summary, number, short_id, table, truncated
from qm_platform.errors import CodedError


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = (
        "short_id",
        "name_text",
        "owner",
        "mode",
        "status",
        "combination_count",
        "planned_runs",
        "schedule",
        "drift_flag",
        "created_at",
        "finished_at",
        "report_link",
    )
    list_display_links = ("short_id",)
    list_filter = ("status", "mode", "drift_alert", "schedule")
    search_fields = ("id", "name", "owner__username")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("id", "owner"),
                    ("name", "mode", "status", "stage"),
                    ("combination_count", "planned_runs", "schedule"),
                    ("page_link", "report_link"),
                )
            },
        ),
        ("Results", {"fields": ("summary_table", "windows_summary", "drift_table", "drift_alert")}),
        ("Timing", {"fields": (("created_at", "finished_at"),)}),
        ("Problems", {"fields": ("error_code", "error_message", "report_error", "warnings")}),
        ("Definition", {"classes": ("collapse",), "fields": ("definition_json",)}),
    )
    readonly_fields = [f.name for f in Batch._meta.fields] + [
        "drift_table",
        "report_link",
        "page_link",
        "summary_table",
        "windows_summary",
        "definition_json",
        "short_id",
        "name_text",
    ]
    actions = ["cancel"]
    date_hierarchy = "created_at"

    @admin.display(description="Batch", ordering="id")
    def short_id(self, batch):
        return short_id(batch.id)

    @admin.display(description="Name", ordering="name")
    def name_text(self, batch):
        return truncated(batch.name or batch.mode, 36)

    @admin.display(description="Page")
    def page_link(self, batch):
        return format_html('<a href="{}">batch page</a>', reverse("batch-page", kwargs={"pk": batch.id}))

    @admin.display(description="Summary")
    def summary_table(self, batch):
        summary = batch.summary or {}
        if not summary:
            return "–"
        rows = []
        for key, value in summary.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append((key.replace("_", " "), number(value, 0 if isinstance(value, int) else 3)))
            elif isinstance(value, str):
                rows.append((key.replace("_", " "), truncated(value, 60)))
            elif isinstance(value, dict) and key in ("best", "best_run"):
                rows.append((key.replace("_", " "), json_summary(value, lines=4)))
        other = {
            k: v for k, v in summary.items() if not isinstance(v, (int, float, str)) and k not in ("best", "best_run")
        }
        if other:
            rows.append(("more", json_summary(other, lines=0)))
        return table(rows)

    @admin.display(description="Walk-forward windows")
    def windows_summary(self, batch):
        return json_summary(batch.windows, lines=0) if batch.windows else "–"

    @admin.display(description="Definition")
    def definition_json(self, batch):
        return json_summary(batch.definition, lines=0)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner", "schedule")

    @admin.display(description="Drift", boolean=False, ordering="drift_alert")
    def drift_flag(self, batch):
        if batch.drift is None:
            return "–"
        return format_html('<b style="color:#b42318">ALERT</b>') if batch.drift_alert else "ok"

    @admin.display(description="Drift against the previous batch")
    def drift_table(self, batch):
        if not batch.drift or not batch.drift.get("metrics"):
            return "–"
        rows = "".join(
            format_html(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                name,
                _fmt(d.get("previous")),
                _fmt(d.get("current")),
                _fmt(d.get("change")),
                "ALERT" if d.get("alert") else "",
            )
            for name, d in batch.drift["metrics"].items()
        )
        return format_html(
            "<table><tr><th>metric</th><th>previous</th><th>current</th><th>change</th><th></th></tr>{}</table>",
            format_html(rows),
        )

    @admin.display(description="Report")
    def report_link(self, batch):
        return format_html('<a href="{}">report</a>', reverse("batch-report", kwargs={"pk": batch.id}))

    def has_add_permission(self, request):
        return False  # batches are created through the API, the pages or a schedule

    def has_change_permission(self, request, obj=None):
        return False  # only the lifecycle service changes a batch; a Save would write over its progress

    @admin.action(description="Cancel selected batches")
    def cancel(self, request, queryset):
        for batch in queryset:
            try:
                batch_cancel(batch=batch)
            except CodedError as exc:
                self.message_user(request, f"{batch.id}: {exc.message}", messages.WARNING)


def _fmt(value) -> str:
    return number(value, 3) if isinstance(value, float) else number(value, 0)


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ["owner", "name", "definition", "cron", "interval_seconds", "timezone", "enabled"]

    def clean(self):
        data = super().clean()
        try:
            schedule_check_timing(
                cron=data.get("cron") or "",
                interval_seconds=data.get("interval_seconds"),
                tz=data.get("timezone") or "UTC",
            )
            if data.get("owner") and data.get("definition") is not None:
                batch_plan(user=data["owner"], definition=data["definition"])
        except CodedError as exc:
            raise forms.ValidationError(f"{exc.code}: {exc.message}") from None
        return data


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ("name", "owner", "when", "enabled", "last_fired_at", "last_error", "latest_drift")
    list_filter = ("enabled",)
    search_fields = ("name", "owner__username")
    readonly_fields = ("periodic_task", "last_fired_at", "last_error", "created_at", "updated_at")
    actions = ["fire_now"]

    @admin.display(description="Latest drift")
    def latest_drift(self, schedule):
        batch = schedule.batches.exclude(drift=None).order_by("-created_at").first()
        if batch is None:
            return "–"
        return format_html('<b style="color:#b42318">ALERT</b>') if batch.drift_alert else "ok"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        schedule_sync(schedule=obj)

    def delete_model(self, request, obj):
        schedule_delete(schedule=obj)

    def delete_queryset(self, request, queryset):
        for schedule in queryset:
            schedule_delete(schedule=schedule)

    @admin.action(description="Fire selected schedules now")
    def fire_now(self, request, queryset):
        for schedule in queryset:
            batch = schedule_fire(schedule_id=schedule.id)
            if batch is None:
                schedule.refresh_from_db()
                self.message_user(request, f"{schedule.name}: {schedule.last_error or 'disabled'}", messages.WARNING)
            else:
                self.message_user(request, f"{schedule.name}: batch {batch.id} created", messages.SUCCESS)


@admin.register(BatchLimit)
class BatchLimitAdmin(admin.ModelAdmin):
    list_display = ("user", "max_runs")
    search_fields = ("user__username",)
