from django.contrib import admin

from marketdata.models import Dataset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("symbol", "timeframe", "source", "start", "end", "rows", "bytes", "last_updated")
    list_filter = ("source", "timeframe")
    search_fields = ("symbol",)
    readonly_fields = ("last_updated",)
