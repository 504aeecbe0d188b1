# Batches leave the backtests app. Their tables exist already (backtests 0006 created them as
# backtests_batch, backtests_schedule and backtests_batchlimit), so this migration only tells
# Django's state that batches now owns them, under their old table and index names; it changes
# nothing in the database. backtests 0008 drops the models from backtests' state and 0002 here
# renames the tables.

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('backtests', '0007_run_warmup_start'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    state_operations = [
        migrations.CreateModel(
            name='Schedule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200)),
                ('definition', models.JSONField(help_text='A batch request, as POST /api/v1/batches takes it.')),
                ('cron', models.CharField(blank=True, help_text="minute hour day-of-month month day-of-week, e.g. '0 6 * * 1-5'.", max_length=120)),
                ('interval_seconds', models.PositiveIntegerField(blank=True, help_text='Fire every N seconds (instead of cron).', null=True)),
                ('timezone', models.CharField(default='UTC', help_text='IANA name, e.g. Europe/London.', max_length=64)),
                ('enabled', models.BooleanField(default=True)),
                ('last_fired_at', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='batch_schedules', to=settings.AUTH_USER_MODEL)),
                ('periodic_task', models.OneToOneField(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='qm_schedule', to='django_celery_beat.periodictask')),
            ],
            options={
                'ordering': ['name'],
                'db_table': 'backtests_schedule',
                'constraints': [models.UniqueConstraint(fields=('owner', 'name'), name='unique_schedule_name_per_owner')],
            },
        ),
        migrations.CreateModel(
            name='Batch',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('name', models.CharField(blank=True, max_length=200)),
                ('mode', models.CharField(choices=[('grid', 'Grid'), ('walk_forward', 'Walk Forward')], default='grid', max_length=16)),
                ('status', models.CharField(choices=[('RUNNING', 'Running'), ('SUCCEEDED', 'Succeeded'), ('FAILED', 'Failed'), ('CANCELLED', 'Cancelled')], db_index=True, default='RUNNING', max_length=16)),
                ('definition', models.JSONField(help_text='The batch request: strategy, grid, markets, timeframes, sample, objective, constraints, walkForward.')),
                ('combination_count', models.PositiveIntegerField(default=0, help_text='Parameter combinations (per window for walk-forward).')),
                ('planned_runs', models.PositiveIntegerField(default=0, help_text='Runs the batch will create in all.')),
                ('windows', models.JSONField(blank=True, help_text='Walk-forward windows: in-sample and out-of-sample spans, the chosen parameters and the out-of-sample run.', null=True)),
                ('summary', models.JSONField(blank=True, help_text='Built once, when the batch is final.', null=True)),
                ('drift', models.JSONField(blank=True, help_text='Metric changes against the previous batch of the same schedule.', null=True)),
                ('drift_alert', models.BooleanField(db_index=True, default=False)),
                ('warnings', models.JSONField(blank=True, default=list)),
                ('error_code', models.CharField(blank=True, max_length=64)),
                ('error_message', models.TextField(blank=True)),
                ('report_key', models.CharField(blank=True, help_text='Storage key of the batch PDF.', max_length=300)),
                ('report_error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='batches', to=settings.AUTH_USER_MODEL)),
                ('schedule', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='batches', to='batches.schedule')),
            ],
            options={
                'verbose_name_plural': 'batches',
                'ordering': ['-created_at'],
                'db_table': 'backtests_batch',
                'indexes': [
                    models.Index(fields=['owner', '-created_at'], name='backtests_b_owner_i_fc9cf0_idx'),
                    models.Index(fields=['schedule', '-created_at'], name='backtests_b_schedul_8b6ff0_idx'),
                ],
            },
        ),
        migrations.CreateModel(
            name='BatchLimit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('max_runs', models.PositiveIntegerField()),
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='batch_limit', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'backtests_batchlimit',
            },
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations, database_operations=[]),
    ]
