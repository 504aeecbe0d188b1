"""Cached runs own their results: they get copies of their source's trades, and a cached run
that points at another user's run no longer names it (the result cache is per user now)."""

from django.db import migrations, models

OLD_PDF_NOTE = (
    "Answered from the cache before each cached run had a PDF of its own: "
    "POST /api/v1/backtests/<id>/report renders it."
)


def own_results(apps, schema_editor):
    BacktestRun = apps.get_model("backtests", "BacktestRun")
    Trade = apps.get_model("backtests", "Trade")
    names = [f.name for f in Trade._meta.concrete_fields if f.name not in ("id", "run")]
    for run in BacktestRun.objects.filter(cached=True, cache_source__isnull=False).select_related("cache_source"):
        if not Trade.objects.filter(run_id=run.id).exists():
            rows = Trade.objects.filter(run_id=run.cache_source_id).values(*names)
            Trade.objects.bulk_create([Trade(run_id=run.id, **row) for row in rows], batch_size=2000)
        fields = {"report_error": run.report_error or OLD_PDF_NOTE}
        if run.cache_source.owner_id != run.owner_id:
            fields["cache_source"] = None
        BacktestRun.objects.filter(id=run.id).update(**fields)


class Migration(migrations.Migration):
    dependencies = [
        ("backtests", "0009_run_report_data"),
    ]

    operations = [
        migrations.AlterField(
            model_name="backtestrun",
            name="cache_source",
            field=models.ForeignKey(
                blank=True,
                help_text="The owner's own succeeded run whose results this one copied (never another user's).",
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="cache_hits",
                to="backtests.backtestrun",
            ),
        ),
        migrations.RunPython(own_results, migrations.RunPython.noop),
    ]
