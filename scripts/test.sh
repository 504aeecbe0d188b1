#!/usr/bin/env bash
# Run the test suite against the real services on loopback: PostgreSQL (127.0.0.1:5432,
# user postgres) and Redis (127.0.0.1:6379), starting them when they are installed but down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh
export DJANGO_SETTINGS_MODULE=qm_platform.settings_test
python3 -m pytest "$@"
