import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

def seed(apps, schema_editor):
    from plans.defaults import PLANS

    Plan = apps.get_model("plans", "Plan")
    for slug, fields in PLANS.items():
        Plan.objects.update_or_create(slug=slug, defaults=fields)


class Migration(migrations.Migration):
    initial = True
    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.CreateModel(
            name="Plan",
            fields=[
                ("slug", models.SlugField(max_length=32, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=64)),
                ("is_default", models.BooleanField(default=False, help_text="New accounts start on this plan (exactly one).")),
                ("concurrent_runs", models.PositiveIntegerField(help_text="Runs of one user in the broker or running at once.")),
                ("runs_per_day", models.PositiveIntegerField(help_text="Runs a user may create per UTC day (batch runs count).")),
                ("bars_per_run", models.PositiveIntegerField(help_text="Bars in one run's window, warm-up included.")),
                ("combinations_per_batch", models.PositiveIntegerField(help_text="Runs one batch may create.")),
                ("schedules", models.PositiveIntegerField(help_text="Batch schedules a user may keep.")),
                ("schedule_min_interval_seconds", models.PositiveIntegerField(help_text="Shortest time between two firings.")),
                ("pdf_reports", models.BooleanField(default=True, help_text="Runs get a PDF report.")),
                ("data_sources", models.JSONField(default=list, help_text='Allowed sources: any of "synthetic", "yahoo", "dataset" (uploads).')),
                ("submit_rate", models.CharField(help_text="API submissions, e.g. 10/min.", max_length=16, validators=[django.core.validators.RegexValidator("^\\d+/(s|sec|m|min|h|hour|d|day)$", "a rate such as 10/min, 600/hour or 5000/day")])),
                ("priority", models.PositiveSmallIntegerField(help_text="Celery priority of the plan's runs: 0 is served first (Redis), 9 last; every level is served.", validators=[django.core.validators.MaxValueValidator(9)])),
            ],
            options={"ordering": ["priority"]},
        ),
        migrations.CreateModel(
            name="UserPlan",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("assigned_at", models.DateTimeField(auto_now=True)),
                ("plan", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="assignments", to="plans.plan")),
                ("user", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="plan_assignment", to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.AddConstraint(
            model_name="plan",
            constraint=models.UniqueConstraint(condition=models.Q(("is_default", True)), fields=("is_default",), name="one_default_plan"),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
