"""Worker process hooks: warm the engine when a pool process starts, dispatch runs that never
reached the broker when the worker is ready, close the warm Chromium when a process exits."""

from celery.signals import worker_process_init, worker_process_shutdown, worker_ready, worker_shutdown


@worker_process_init.connect
def warm_engine(**_kwargs) -> None:
    """Load the engine's compiled kernels (Numba's disk cache) before the first run, so no
    user's run pays for it."""
    from backtests.engine import montecarlo, warm_up

    warm_up()
    montecarlo.warm_up()


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
