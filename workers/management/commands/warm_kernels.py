"""``manage.py warm_kernels``: compile every Numba kernel into ``NUMBA_CACHE_DIR`` (set-up script and
Dockerfile run it), so a worker started later on this machine loads them in seconds."""

from __future__ import annotations

import os
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Compile (or load) every Numba kernel into NUMBA_CACHE_DIR, for a fast worker start."

    def handle(self, *args, **options) -> None:
        from backtests.engine import jit, kernel, montecarlo
        from backtests.engine.warm import warm_up_all

        cached = jit.cache_matches(kernel.run_kernel, montecarlo._paths_kernel)
        started = time.monotonic()
        modules = warm_up_all()
        where = os.environ.get("NUMBA_CACHE_DIR", "__pycache__")
        self.stdout.write(
            f"kernels {'loaded from' if cached else 'compiled into'} {where}: "
            f"engine, Monte Carlo, portfolio and {modules} modules in {time.monotonic() - started:.1f} s"
        )
