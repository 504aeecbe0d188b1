#!/usr/bin/env bash
# The full fuzz run: schemathesis over the OpenAPI schema of a live server (gunicorn on loopback,
# production settings over plain HTTP, a throwaway PostgreSQL database), authenticated as a user
# on the Free plan, every operation, phases examples, coverage, fuzzing and stateful; checks: no
# 5xx, statuses / content types / bodies as the schema declares, every 4xx in the error contract
# (qm_platform/tests/fuzz_checks.py). No worker runs and PDFs are off: accepted runs stay QUEUED
# and the broker database is flushed at the end. The Free plan's throttles stay on (429s are in
# the contract). The bounded run is the pytest one (qm_platform/tests/test_fuzz.py).
#
#   bash scripts/fuzz.sh                     # 100 examples per operation
#   QM_FUZZ_EXAMPLES=500 bash scripts/fuzz.sh
#
# Options after the script's name go to `schemathesis run` (e.g. --max-time 600, -w 2).
# Reports (JUnit, NDJSON) go to var/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${QM_FUZZ_PORT:-8799}
DB=${QM_FUZZ_DB:-qm_fuzz_live}
REDIS_DB=${QM_FUZZ_REDIS_DB:-12}
EXAMPLES=${QM_FUZZ_EXAMPLES:-100}
VAR="var/fuzz"
BASE="http://127.0.0.1:${PORT}"

export DJANGO_SETTINGS_MODULE=qm_platform.settings
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/${DB}"
export CELERY_BROKER_URL="redis://127.0.0.1:6379/${REDIS_DB}"
export QM_VAR_DIR="${VAR}/var" QM_RENDER_PDF=0 QM_LOG_LEVEL=WARNING
export QM_SSL_REDIRECT=0 QM_SECURE_COOKIES=0 QM_HSTS_SECONDS=0
DJANGO_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
export DJANGO_SECRET_KEY

rm -rf "${VAR}" && mkdir -p "${VAR}/var"
psql() { python3 -c "import psycopg,sys; c=psycopg.connect(host='127.0.0.1',user='postgres',dbname='postgres',autocommit=True); c.execute(sys.argv[1])" "$1"; }
psql "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)"
psql "CREATE DATABASE ${DB}"
python3 manage.py migrate --noinput -v0
TOKEN=$(python3 manage.py shell -c "
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
user = get_user_model().objects.create_user('fuzz', password='fuzz-password-not-used')
print(Token.objects.create(user=user).key)" | tail -n1)

server=""
cleanup() {
  set +e
  [ -n "${server}" ] && kill -TERM "${server}" 2>/dev/null && wait "${server}" 2>/dev/null
  redis-cli -n "${REDIS_DB}" flushdb >/dev/null 2>&1
  psql "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)"
}
trap cleanup EXIT INT TERM

python3 -m gunicorn qm_platform.wsgi:application --bind "127.0.0.1:${PORT}" --workers 2 --threads 2 \
  --timeout 120 --log-level warning >"${VAR}/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "${BASE}/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

CHECKS=$(python3 -c 'from qm_platform.tests.fuzz_checks import CHECK_NAMES; print(CHECK_NAMES)')
SCHEMATHESIS_HOOKS=qm_platform.tests.fuzz_checks python3 -m schemathesis.cli run "${BASE}/api/v1/schema/?format=json" \
  --header "Authorization: Token ${TOKEN}" \
  --phases examples,coverage,fuzzing,stateful \
  --checks "${CHECKS}" \
  --max-examples "${EXAMPLES}" \
  --seed 17 \
  --generation-deterministic \
  --report junit,ndjson --report-dir "${VAR}" \
  "$@"
