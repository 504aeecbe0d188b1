"""Operations endpoints: liveness (/healthz), readiness (/readyz: database, broker, storage)
and Prometheus /metrics (behind a bearer token or an address allow-list). Part of the
composition root (like urls.py): they look across every app, so they may import from any of them."""

import hmac
import ipaddress
import logging

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from kombu import Connection
from kombu.exceptions import ChannelError
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from qm_platform.errors import error_body


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


class SystemCollector:
    """Runs by status and broker queue depth, read when Prometheus scrapes."""

    def collect(self):
        from django.db.models import Count

        from backtests.models import BacktestRun

        runs = GaugeMetricFamily("qm_runs", "Runs by status", labels=["status"])
        for row in BacktestRun.objects.values("status").annotate(n=Count("id")):
            runs.add_metric([row["status"]], row["n"])
        yield runs
        cached = GaugeMetricFamily("qm_runs_cached", "Runs answered from the result cache")
        cached.add_metric([], BacktestRun.objects.filter(cached=True).count())
        yield cached
        depth = GaugeMetricFamily("qm_queue_depth", "Messages waiting per broker queue", labels=["queue"])
        try:
            from qm_platform.celery import app

            with app.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
                for queue in settings.CELERY_TASK_QUEUES:
                    depth.add_metric([queue.name], _waiting(conn, queue.name))
        except Exception:  # the broker being down is reported by /readyz; keep the scrape alive
            logging.getLogger("qm.metrics").debug("queue depth unavailable", exc_info=True)
        yield depth


def _waiting(conn, name: str) -> int:
    """Messages waiting in the broker queue ``name``; 0 for a queue nobody has declared yet (a
    fresh broker: no worker started, nothing sent), which the broker reports as NOT_FOUND. A
    channel of its own per queue: on an AMQP broker that error closes the channel."""
    with conn.channel() as channel:
        try:
            return channel.queue_declare(queue=name, passive=True).message_count
        except ChannelError as exc:
            if "NOT_FOUND" in str(exc):  # AMQP's 404; kombu's Redis and in-memory transports say the same
                return 0
            raise


def _metrics_allowed(request) -> bool:
    token = settings.QM_METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    try:
        # the direct peer: behind a proxy, list the proxy (X-Forwarded-For is not trusted here)
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(allowed, strict=False) for allowed in settings.QM_METRICS_ALLOW)


def metrics_view(request):
    """Prometheus metrics for a scraper that shows ``QM_METRICS_TOKEN`` as a bearer token or
    connects from an address in ``QM_METRICS_ALLOW``; 403 for anyone else; 404 when neither is set."""
    if not settings.QM_METRICS_TOKEN and not settings.QM_METRICS_ALLOW:
        return JsonResponse(error_body("NOT_FOUND", f"No such resource: {request.path}"), status=404)
    if not _metrics_allowed(request):
        return JsonResponse(
            error_body(
                "PERMISSION_DENIED",
                "metrics need the bearer token (QM_METRICS_TOKEN) or an allowed address (QM_METRICS_ALLOW)",
            ),
            status=403,
        )
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(SystemCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
