#!/usr/bin/env bash
# Install what QuantMetrics needs on a fresh Debian machine: system packages (Chromium for
# PDFs, poppler for PDF checks) and the Python package with its dev extras, then compiles the
# Numba kernels into the installed tree (qm_platform/numba_cache) so a worker starts in seconds.
# Idempotent (a second run loads the kernels instead of compiling them).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)  # the multi-host test's network namespaces
fc-list 2>/dev/null | grep -qi dejavu || need_apt+=(fonts-dejavu-core)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
$PY -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v -E '^(WARNING: (Location|Running pip))' || true
$PY -c "import django, celery, talib, playwright" # fails loudly if the install did not work
# Compile every kernel now, not in a worker's first run (no database or broker needed).
DJANGO_DEBUG=1 QM_VAR_DIR="${QM_VAR_DIR:-var}" $PY manage.py warm_kernels

# axe-core for the site audit (qm_platform/tests/test_site_audit.py), pinned by package-lock.json
npm ci --silent --no-audit --no-fund
