"""Worker process hooks: close the warm Chromium when a worker process exits."""
from celery.signals import worker_process_shutdown, worker_ready


@worker_process_shutdown.connect
def close_browser(**_kwargs) -> None:
    from reports.pdf import shutdown_browser

    shutdown_browser()


@worker_ready.connect
def dispatch_on_start(**_kwargs) -> None:
    """Start-up sweep: hand any run that never reached the broker to it now."""
    from backtests.services import backtest_dispatch_pending

    backtest_dispatch_pending(older_than_seconds=0)
