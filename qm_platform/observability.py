"""Prometheus metrics, structured logs with the run id, and the /metrics view.

Metrics use prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set in
settings) so counters and histograms from gunicorn workers and Celery pool processes add
up. Gauges that describe the system (runs by status, queue depth) are read at scrape time.
"""

from __future__ import annotations

import contextvars
import logging

from django.http import HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

STAGE_SECONDS = Histogram(
    "qm_backtest_stage_seconds",
    "Time spent per backtest stage",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
RUNS_FINISHED = Counter("qm_runs_finished_total", "Runs that reached a final status", ["status"])
CACHE_LOOKUPS = Counter("qm_result_cache_lookups_total", "Result cache lookups at submit", ["result"])
MODULE_SECONDS = Histogram(
    "qm_module_seconds", "Module calculation time", ["module"], buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5)
)
DOWNLOAD_SECONDS = Histogram(
    "qm_data_download_seconds", "Market data download time", ["provider"], buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60)
)

_run_id: contextvars.ContextVar[str] = contextvars.ContextVar("qm_run_id", default="")


def set_run_id(run_id: str) -> None:
    _run_id.set(run_id)


class RunIdFilter(logging.Filter):
    """Adds ``run_id`` to every record: from ``extra=`` if given, else from the context."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "run_id", ""):
            record.run_id = _run_id.get()
        return True


class SystemCollector:
    """Runs by status and broker queue depth, read when Prometheus scrapes."""

    def collect(self):
        from django.conf import settings
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
                channel = conn.default_channel
                for queue in settings.CELERY_TASK_QUEUES:
                    depth.add_metric([queue.name], channel.queue_declare(queue=queue.name, passive=True).message_count)
        except Exception:  # the broker being down is reported by /readyz; keep the scrape alive
            logging.getLogger("qm.metrics").debug("queue depth unavailable", exc_info=True)
        yield depth


def metrics_view(request):
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(SystemCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
