from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("backtests", "0010_cached_runs_own_their_results"),
    ]

    operations = [
        migrations.AddField(
            model_name="backtestrun",
            name="equity_detail",
            field=models.JSONField(
                blank=True,
                help_text="The equity curve for GET /equity: every bar up to backtests.services.EQUITY_DETAIL_POINTS, else thinned keeping each bucket's extremes. Null for runs stored before it was kept.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="backtestrun",
            name="montecarlo",
            field=models.JSONField(
                blank=True,
                help_text="Monte Carlo robustness computed by the worker with the default settings, by method (backtests.engine.montecarlo). Null for runs stored before it was kept or without trades.",
                null=True,
            ),
        ),
    ]
