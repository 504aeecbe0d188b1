from django.db import migrations


def load(apps, schema_editor):
    """Upsert the shipped templates again: a database migrated before momentum_rotation_portfolio
    was shipped gets it (templates_load is idempotent)."""
    from backtests.strategies.templates import templates_load

    templates_load(apps=apps)


class Migration(migrations.Migration):
    dependencies = [("backtests", "0013_trade_market")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
