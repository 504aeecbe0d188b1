"""Worker process hooks: warm the engine when a pool process starts, dispatch runs that never
reached the broker when the worker is ready, keep or close a task's database connection as
Django does a request's, close the warm Chromium when a process exits."""

import gc
import logging
import threading
import time

from celery.signals import (
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

logger = logging.getLogger("qm.workers")


@worker_process_init.connect
def warm_engine(**_kwargs) -> threading.Thread:
    """Get a new pool process ready for its first run without holding up its start: returns at
    once, the warming goes on in a background thread (returned, for tests).

    Celery counts a pool process as up only when this hook has returned, takes no run before, and
    kills one that is not up within ``worker_proc_alive_timeout`` (4 s): a start-up that loads
    kernels here would delay every first run by that much and, on a loaded host, be killed and
    start over. In the background instead, the first run starts at once and its own I/O (claim,
    database, market data from S3) overlaps the loading; a kernel the run reaches before the
    thread has loaded it is loaded by the run (Numba's compiler lock makes the two wait for each
    other, never load twice).

    The thread builds the data manager first (it imports the data providers, yfinance and
    curl_cffi, and boto3 for S3, without touching the network: every run needs it), then:

    - with Numba's disk cache filled for this CPU and code (``manage.py warm_kernels`` at install),
      loads the kernels every run uses: the engine's, the Monte Carlo's and the stored curves'
      (a second or so). The modules' kernels are left to the runs that use them (each loads in
      milliseconds; all 74 take seconds of CPU a fresh host's first runs would pay for);
    - otherwise (another CPU, changed code, no warm-up at install) compiles every kernel, which
      takes minutes, while runs go on running what is not compiled yet as plain Python (slower,
      same results: ``backtests.engine.jit``).

    A provider imported lazily inside a run instead could be cut by a soft time limit mid-import
    and leave a half-initialised module that failed every later run of the process; imported by
    this thread, a run that needs it meanwhile waits for the import to finish."""
    from backtests.engine import jit, kernel, montecarlo
    from backtests.engine.warm import warm_up_all

    if jit.cache_matches(kernel.run_kernel, montecarlo._paths_kernel):
        thread = threading.Thread(target=_load_cached_kernels, name="qm-kernel-load", daemon=True)
        thread.start()
        return thread
    logger.warning("Numba's cache does not match this machine: compiling in the background, runs go on meanwhile")
    return jit.warm_in_background(lambda: (_build_data_manager(), warm_up_all(), freeze_start_up_objects()))


def freeze_start_up_objects() -> None:
    """Move what the process holds once started (Django, the engine, pandas, the providers, the
    loaded kernels: some 330,000 objects) into the collector's permanent generation
    (``gc.freeze``, as Python's documentation suggests for long-lived servers), so a full
    collection walks only what runs allocate. A run allocates enough that one full collection
    comes about every 40 runs; over the start-up objects it took about 200 ms, 5 ms a run
    (bench/throughput.py's run in process: the collector's time per run 5.5 -> 1.2 ms). Objects
    frozen are still freed when their last reference goes; only cycles among them are never
    collected, and a first run overlapping the warm-up may leave a few such cycles behind."""
    gc.freeze()


def _load_cached_kernels() -> None:
    from backtests.engine.warm import warm_up_run

    started = time.monotonic()
    _build_data_manager()
    try:
        warm_up_run()  # the engine's, the Monte Carlo's and the stored curves' kernels
    except Exception:
        logger.exception("loading the engine's kernels failed; they load when a run first uses them")
        return
    freeze_start_up_objects()
    logger.info("engine kernels loaded from the cache in %.1f s", time.monotonic() - started)


def _build_data_manager() -> None:
    from marketdata.services import get_data_manager

    try:
        get_data_manager()
    except Exception:  # a run builds it again and reports what is wrong
        logger.exception("building the data manager at start-up failed")


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(task=None, **_kwargs) -> None:
    """Before and after each task, what Django does around each request: close the process's
    database connections that are past CONN_MAX_AGE, broken by an error, or left in a transaction,
    and keep the others for the next task (settings.CELERY_DB_REUSE_MAX: Celery's fix-up no longer
    closes them all). Not for a task run eagerly: it runs inside its caller's connection and
    transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_process_shutdown.connect
@worker_shutdown.connect
def close_browser(**_kwargs) -> None:
    """A prefork child closes its browser as it exits (worker_process_shutdown); with the solo
    or threads pool the PDFs are rendered in the main process, closed at worker_shutdown.
    Closing twice is harmless."""
    from reports.pdf import shutdown_browser

    shutdown_browser()


@worker_ready.connect
def dispatch_on_start(**_kwargs) -> None:
    """Start-up sweep: hand any run that never reached the broker to it, through a task (the beat's
    outbox sweep, counting runs saved a moment ago too) that a pool process runs. Celery consumes
    nothing until this hook returns: the sweep's queries done here, on a busy database (a batch
    with hundreds of runs in the outbox), held a new worker's first run up by seconds."""
    from backtests.tasks import dispatch_queued_runs

    try:
        dispatch_queued_runs.apply_async(kwargs={"older_than_seconds": 0})
    except Exception:  # the beat's sweep sends them within 15 s
        logger.exception("could not send the start-up sweep")
