"""The compiled kernels' start-up: Numba's disk cache, and what a process does while it compiles.

A process loads the kernels (``@njit(cache=True)``: the engine's, the Monte Carlo's and the
modules') from ``NUMBA_CACHE_DIR`` in a few seconds; compiling them takes about a minute on two
cores. ``manage.py warm_kernels`` fills the cache at install or image-build time (set-up script,
Dockerfile). A worker whose cache does not match (another CPU, changed code) compiles in a
background thread and meanwhile runs every kernel that is not compiled yet as plain Python: the
same code, the same results, slower, instead of a first run that waits a minute.

How: when a kernel is called with arguments it has no compiled version for, Numba's dispatcher
calls its ``_compile_for_args``; while :func:`warm_in_background` runs, that call returns the
kernel's Python function for every thread but the warming one (Numba then calls it), so kernels
already loaded stay compiled and the others are interpreted until the warm-up has compiled them.
Pure (numpy and numba only).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numba.core.dispatcher import Dispatcher

logger = logging.getLogger("qm.engine.jit")

_state = threading.local()  # .compiling: this thread is the warm-up, it compiles
_interpreting = threading.Event()  # set while a background warm-up runs
_original_compile_for_args = getattr(Dispatcher, "_compile_for_args")  # noqa: B009 (not in numba's stubs)


_waits_for_compile: set[int] = set()  # ids of kernels whose Python version is too slow to stand in


def _compile_or_interpret(self: Any, *args: Any, **kws: Any) -> Any:
    if _interpreting.is_set() and not getattr(_state, "compiling", False) and id(self) not in _waits_for_compile:
        return self.py_func  # the dispatcher calls it with the same arguments
    return _original_compile_for_args(self, *args, **kws)


setattr(Dispatcher, "_compile_for_args", _compile_or_interpret)  # noqa: B010


def wait_for_compile(dispatcher: Any) -> Any:
    """Mark a kernel whose Python version would be far slower than waiting for its compile (the
    Monte Carlo's 10,000 paths of numpy scalars): during a warm-up a call to it waits for the
    compiler instead (the warm-up compiles such kernels first). Returns the dispatcher."""
    _waits_for_compile.add(id(dispatcher))
    return dispatcher


def interpreting() -> bool:
    """Whether kernels not compiled yet run as Python (a background warm-up is running)."""
    return _interpreting.is_set()


def usable(dispatcher: Any) -> bool:
    """Whether calling ``dispatcher`` runs compiled code: false only while a background warm-up
    runs and this kernel is not compiled yet (it would run as Python). A fast path that is only
    fast compiled asks this and takes its plain NumPy way otherwise."""
    return not (_interpreting.is_set() and not dispatcher.signatures)


def read_only(a: np.ndarray, dtype: Any) -> np.ndarray:
    """``a`` as a read-only, aligned, C-contiguous array of ``dtype``, copied only if it is not one
    already. Numba compiles one variant per argument type, and read-only is part of the type:
    pandas hands out read-only views, NumPy writeable arrays. Making every kernel argument
    read-only (a view, no copy) keeps a kernel at one signature, which the on-disk cache has."""
    out = np.require(a, dtype=dtype, requirements=["C", "A"])
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


def cache_matches(*dispatchers: Any) -> bool:
    """Whether Numba's disk cache holds a version of every one of ``dispatchers`` built for this
    CPU and this code (so loading them takes seconds, not a compile). Reads the cache index the
    way Numba does; any doubt counts as a miss."""
    try:
        for dispatcher in dispatchers:
            cache = dispatcher._cache
            index = cache._cache_file._load_index()
            codegen = dispatcher.targetctx.codegen()
            if not any(key == cache._index_key(key[0], codegen) for key in index):
                return False
        return True
    except Exception:  # an internal of Numba moved: compile, as without a cache
        logger.warning("could not read Numba's cache index; treating it as a miss", exc_info=True)
        return False


def warm_in_background(warm: Callable[[], Any]) -> threading.Thread:
    """Run ``warm`` (which compiles kernels) in a daemon thread; until it returns, other threads
    run uncompiled kernels as Python. Returns the thread."""

    def run() -> None:
        _state.compiling = True
        started = time.monotonic()
        try:
            warm()
            logger.info("kernels compiled in the background in %.1f s", time.monotonic() - started)
        except Exception:
            logger.exception("background kernel warm-up failed; kernels compile when first used")
        finally:
            _interpreting.clear()

    _interpreting.set()
    thread = threading.Thread(target=run, name="qm-kernel-warm-up", daemon=True)
    thread.start()
    return thread
