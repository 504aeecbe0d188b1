#!/usr/bin/env bash
# Run QuantMetrics on its embedded defaults: SQLite and a filesystem Celery broker under var/,
# local Parquet storage, synthetic market data. Starts the web server, a real Celery worker and
# celery beat, submits a demo backtest through the public API and prints where to see it.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export DJANGO_SETTINGS_MODULE=qm_platform.settings
unset DATABASE_URL CELERY_BROKER_URL
# DEBUG stays off, so start-up needs a real secret key: generated once into var/, kept for later
# runs (sessions and tokens survive a restart). The demo serves plain HTTP on 127.0.0.1: no HTTPS
# redirect, Secure cookies or HSTS; /metrics answers this machine only.
VAR="${QM_VAR_DIR:-var}"
mkdir -p "${VAR}"
if [ ! -s "${VAR}/secret_key" ]; then
  (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(50))' >"${VAR}/secret_key")
fi
DJANGO_SECRET_KEY=$(cat "${VAR}/secret_key")
export DJANGO_SECRET_KEY QM_SSL_REDIRECT=0 QM_SECURE_COOKIES=0 QM_HSTS_SECONDS=0 QM_METRICS_ALLOW=127.0.0.1,::1
PORT=${QM_PORT:-8000}
BASE="http://127.0.0.1:${PORT}"
mkdir -p var/log

python3 manage.py migrate --noinput -v0
TOKEN=$(python3 manage.py qm_demo)
python3 manage.py qm_demo_schedule

# Each service runs in its own session, so a Ctrl-C reaches only this script, which then stops
# them in order: a Celery worker whose pool processes were interrupted mid-queue can hang.
pids=()
cleanup() {
  trap - INT TERM EXIT
  trap '' PIPE  # the terminal or a pipe may be gone: stop everything first, then say so
  set +e
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  printf '\nStopping QuantMetrics...\n' 2>/dev/null
  for _ in $(seq 1 40); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Stopped." 2>/dev/null
}
trap cleanup INT TERM EXIT

setsid python3 manage.py runserver "127.0.0.1:${PORT}" --noreload --insecure >var/log/web.log 2>&1 & pids+=($!)
setsid celery -A qm_platform worker --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1 & pids+=($!)
setsid celery -A qm_platform beat --loglevel=INFO >var/log/beat.log 2>&1 & pids+=($!)

for _ in $(seq 1 60); do curl -fs "${BASE}/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
READY_NS=$(date +%s%N)  # the web server answers: from here the demo run is timed

BODY='{"marketContext":{"market":"XAUUSD","timeframe":"15m","direction":"Long","testPeriod":"6mo"},
 "decisionBlocks":[{"label":"Momentum","subConfirmations":[
   {"label":"RSI","moduleId":"rsi","selected":true,"config":{"period":14,"operator":"<","value":30}},
   {"label":"Trend","moduleId":"sma","selected":true,"config":{"period":200,"operator":"<","value":{"column":"close"}}}]}],
 "exit":{"stopLoss":1.0,"takeProfit":2.0},"quickTest":false,"strategyName":"RSI dip in an uptrend (demo)"}'
RESPONSE=$(curl -fsS -X POST "${BASE}/api/v1/backtests" -H "Authorization: Token ${TOKEN}" \
  -H "Content-Type: application/json" -d "${BODY}")
RUN_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"${RESPONSE}")
echo "Submitted demo backtest ${RUN_ID}; waiting for the worker..."
STATUS=QUEUED
for _ in $(seq 1 240); do
  STATUS=$(curl -fsS "${BASE}/api/v1/backtests/${RUN_ID}" -H "Authorization: Token ${TOKEN}" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["status"], r["progress"], r["stage"], sep="|")')
  printf '\r  %-40s' "${STATUS//|/ }"
  case "${STATUS%%|*}" in SUCCEEDED|FAILED|CANCELLED) break;; esac
  sleep 0.5
done
echo
WAITED_MS=$((($(date +%s%N) - READY_NS) / 1000000))
printf 'Demo run %s %d.%d s after the web server answered (the worker started with it).\n' \
  "${STATUS%%|*}" $((WAITED_MS / 1000)) $((WAITED_MS % 1000 / 100))
cat <<TXT

QuantMetrics is running on embedded defaults (SQLite, filesystem broker, local Parquet) in $(pwd)/var
  Admin:        ${BASE}/admin/   (user demo, password demo-password)
  Run page:     ${BASE}/runs/${RUN_ID}/   (log in with the same user)
  New backtest: ${BASE}/run-backtest-v4
  API docs:     ${BASE}/api/v1/docs/
  Status:       curl -H "Authorization: Token ${TOKEN}" ${BASE}/api/v1/backtests/${RUN_ID}
  PDF:          curl -H "Authorization: Token ${TOKEN}" -o report.pdf ${BASE}/api/v1/backtests/${RUN_ID}/report.pdf
                (stored at $(pwd)/var/artifacts/reports/${RUN_ID}.pdf)
  Logs:         var/log/web.log, var/log/worker.log, var/log/beat.log
Press Ctrl-C to stop.
TXT
# QM_DEMO_EXIT=1 stops everything once the demo run is done (to time a fresh clone's first run).
[ "${QM_DEMO_EXIT:-0}" = 1 ] && exit 0
wait
