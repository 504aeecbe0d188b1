"""Progress and cancellation while market data loads.

Loading a long window (five years of 1m bars generated, or downloaded in chunks) takes
seconds; a run's worker must still show progress and stop within a second when the run is
cancelled. The caller (``backtests.services``, which sits above this app) installs a callback
for the duration of a load with :func:`reporting`; providers and the manager call
:func:`report` between units of work (a day generated, a chunk downloaded). The callback may
raise to stop the load (the run was cancelled): the exception passes through unchanged.
Pure Python: a context variable, so concurrent loads in threads or tasks do not mix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Callback = Callable[[int, int], None]
_callback: ContextVar[Callback | None] = ContextVar("qm_data_progress", default=None)


@contextmanager
def reporting(callback: Callback) -> Iterator[None]:
    """Send ``report(done, total)`` calls made inside the block to ``callback``."""
    token = _callback.set(callback)
    try:
        yield
    finally:
        _callback.reset(token)


def report(done: int, total: int) -> None:
    """``done`` of ``total`` units of the current load are finished (no-op without a callback)."""
    callback = _callback.get()
    if callback is not None:
        callback(done, total)
