from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"

    def ready(self) -> None:
        # The Celery app is loaded with Django (not by importing qm_platform), so the pure
        # libraries can import qm_platform.errors without pulling Celery in.
        from qm_platform import celery  # noqa: F401
