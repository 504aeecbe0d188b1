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
_last: ContextVar[tuple[int, int]] = ContextVar("qm_data_progress_last", default=(0, 1))


@contextmanager
def reporting(callback: Callback) -> Iterator[None]:
    """Send ``report(done, total)`` calls made inside the block to ``callback``."""
    token, last = _callback.set(callback), _last.set((0, 1))
    try:
        yield
    finally:
        _callback.reset(token)
        _last.reset(last)


def report(done: int, total: int) -> None:
    """``done`` of ``total`` units of the current load are finished (no-op without a callback)."""
    callback = _callback.get()
    if callback is not None:
        _last.set((done, total))
        callback(done, total)


def checkpoint() -> None:
    """Between two steps of a load that report nothing themselves (saving, reading back, the
    quality report): the callback is called again with the last progress, so a cancelled run
    stops here instead of after the whole load."""
    callback = _callback.get()
    if callback is not None:
        callback(*_last.get())
