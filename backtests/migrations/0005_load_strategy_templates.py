from django.db import migrations


def load(apps, schema_editor):
    from backtests.strategies.templates import templates_load

    templates_load(apps=apps)


class Migration(migrations.Migration):
    dependencies = [("backtests", "0004_strategy_templates")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
