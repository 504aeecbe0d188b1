import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qm_platform.settings")

app = Celery("qm_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Worker start-up/shutdown hooks (warm browser, logging) live in workers/.
app.conf.imports = ("workers.signals",)
