# Batch, Schedule and BatchLimit moved to the batches app (batches 0001 took over their tables
# as they are). Here they leave backtests' state, and BacktestRun.batch points at
# batches.Batch: the column and its foreign key stay as they are, so nothing changes in the
# database and no row is copied.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('backtests', '0007_run_warmup_start'),
        ('batches', '0001_initial'),
    ]

    state_operations = [
        migrations.AlterField(
            model_name='backtestrun',
            name='batch',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='runs', to='batches.batch'),
        ),
        migrations.DeleteModel(name='Batch'),
        migrations.DeleteModel(name='Schedule'),
        migrations.DeleteModel(name='BatchLimit'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations, database_operations=[]),
    ]
