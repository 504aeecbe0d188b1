FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends chromium fonts-dejavu-core poppler-utils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir .
# Every process imports the code from /app (so the kernels cached below are the ones it runs), and
# Numba's cache lives in the image: a new worker container loads its kernels in seconds instead of
# compiling them for a minute or more (manage.py warm_kernels; a CPU the cache does not match
# compiles in the background while the worker serves runs, see backtests/engine/jit.py).
ENV DJANGO_SETTINGS_MODULE=qm_platform.settings PYTHONUNBUFFERED=1 PYTHONPATH=/app NUMBA_CACHE_DIR=/app/qm_platform/numba_cache
RUN DJANGO_DEBUG=1 QM_VAR_DIR=/tmp/qm-build python manage.py warm_kernels && rm -rf /tmp/qm-build
EXPOSE 8000
