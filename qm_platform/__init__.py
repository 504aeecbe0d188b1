"""The project's settings, errors and wiring (the composition root lives in urls, wsgi, celery)."""

import os
from pathlib import Path

# Numba's disk cache of the compiled kernels lives in the installed tree, not beside each source
# file's __pycache__ or in a home folder: `manage.py warm_kernels` fills it at install or image
# build time, and every process of this installation (web, worker, beat) reads it, so a worker on
# a new host loads its kernels in seconds (workers/signals.py). Set before numba is imported.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent / "numba_cache"))
