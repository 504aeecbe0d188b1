from django.contrib import admin

from plans.models import Plan, UserPlan


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "is_default",
        "concurrent_runs",
        "runs_per_day",
        "bars_per_run",
        "combinations_per_batch",
        "schedules",
        "submit_rate",
        "priority",
        "pdf_reports",
    ]
    list_editable = ["concurrent_runs", "runs_per_day", "submit_rate", "priority"]


@admin.register(UserPlan)
class UserPlanAdmin(admin.ModelAdmin):
    list_display = ["user", "plan", "assigned_at"]
    list_filter = ["plan"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]
