#!/usr/bin/env bash
# Install what QuantMetrics needs on a fresh Debian machine: system packages (Chromium for
# PDFs, poppler for PDF checks) and the Python package with its dev extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)
fc-list 2>/dev/null | grep -qi dejavu || need_apt+=(fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
$PY -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v -E '^(WARNING: (Location|Running pip))' || true
$PY -c "import django, celery, talib, playwright" # fails loudly if the install did not work
