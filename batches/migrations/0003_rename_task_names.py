# The batch tasks were named backtests.batches.tasks.*; they are batches.tasks.* now. The
# schedules' django-celery-beat PeriodicTasks (and the beat sweep, synced from settings) call
# them by name, so their names move too. The content types of the three models move with
# them, so permissions granted on them are kept.

from django.db import migrations
from django.utils import timezone

OLD, NEW = "backtests.batches.tasks.", "batches.tasks."
MODELS = ("batch", "schedule", "batchlimit")


def _rename_tasks(apps, old: str, new: str) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    renamed = 0
    for task in PeriodicTask.objects.filter(task__startswith=old):
        task.task = new + task.task[len(old):]
        task.save(update_fields=["task"])
        renamed += 1
    if renamed:  # a running beat reloads its schedule when this changes (historical models send no signals)
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def _move_content_types(apps, old_app: str, new_app: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=new_app, model=model).exists():
            ContentType.objects.filter(app_label=old_app, model=model).update(app_label=new_app)


def forwards(apps, schema_editor):
    _rename_tasks(apps, OLD, NEW)
    _move_content_types(apps, "backtests", "batches")


def backwards(apps, schema_editor):
    _rename_tasks(apps, NEW, OLD)
    _move_content_types(apps, "batches", "backtests")


class Migration(migrations.Migration):

    dependencies = [
        ('batches', '0002_batches_tables'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
