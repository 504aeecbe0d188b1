"""Prometheus metrics and structured logs with the run id (the /metrics view that reads them
is in ``qm_platform.health``).

Metrics use prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set in
settings) so counters and histograms from gunicorn workers and Celery pool processes add up.
"""

from __future__ import annotations

import contextvars
import logging

from prometheus_client import Counter, Histogram

STAGE_SECONDS = Histogram(
    "qm_backtest_stage_seconds",
    "Time spent per backtest stage",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
RUNS_FINISHED = Counter("qm_runs_finished_total", "Runs that reached a final status", ["status"])
RUNS_REDISPATCHED = Counter(
    "qm_runs_redispatched", "Runs sent again because no worker claimed them (a lost broker message)"
)
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
