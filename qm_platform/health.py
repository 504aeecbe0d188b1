"""Liveness (/healthz) and readiness (/readyz: database, broker, storage) probes."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from kombu import Connection


def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker():
    with Connection(
        settings.CELERY_BROKER_URL, transport_options=getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _check_storage():
    from marketdata.services import get_data_manager

    # A metadata read of a series that does not exist: one cheap round trip to the backend
    # (None when reachable; StorageError when not).
    get_data_manager().storage.metadata("READYZ-PROBE", "1d")


def readyz(request):
    problems = {}
    for name, check in (("database", _check_database), ("broker", _check_broker), ("storage", _check_storage)):
        try:
            check()
        except Exception as exc:  # report every failing dependency, not just the first
            problems[name] = f"{type(exc).__name__}: {exc}"
    if problems:
        return JsonResponse({"status": "unavailable", "problems": problems}, status=503)
    return JsonResponse({"status": "ready", "checks": ["database", "broker", "storage"]})
