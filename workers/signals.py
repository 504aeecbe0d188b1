"""Worker process hooks: warm the engine when a pool process starts, dispatch runs that never
reached the broker when the worker is ready, close the warm Chromium when a process exits."""

import logging

from celery.signals import worker_process_init, worker_process_shutdown, worker_ready, worker_shutdown

logger = logging.getLogger("qm.workers")


@worker_process_init.connect
def warm_engine(**_kwargs) -> None:
    """Load the engine's compiled kernels before the first run, so no user's run pays for them.

    With Numba's disk cache filled for this CPU and code (``manage.py warm_kernels`` at install)
    that takes seconds and is done here. Otherwise (another CPU, changed code, no warm-up at
    install) the kernels compile in a background thread, which takes minutes, and the process
    serves runs at once, running what is not compiled yet as plain Python (slower, same results:
    ``backtests.engine.jit``).

    The data providers (yfinance, curl_cffi) are imported here too, without touching the
    network. Imported lazily inside a run instead, a soft time limit striking mid-import left a
    half-initialised module behind that failed every later run of the process."""
    from marketdata.services import build_providers

    build_providers()

    from backtests.engine import jit, kernel, montecarlo, warm_up
    from backtests.engine.warm import warm_up_all

    if jit.cache_matches(kernel.run_kernel, montecarlo._paths_kernel):
        warm_up()
        montecarlo.warm_up()
    else:
        logger.warning("Numba's cache does not match this machine: compiling in the background, runs go on meanwhile")
        jit.warm_in_background(warm_up_all)


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
    """Start-up sweep: hand any run that never reached the broker to it now."""
    from backtests.services import backtest_dispatch_pending

    backtest_dispatch_pending(older_than_seconds=0)
