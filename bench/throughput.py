"""Throughput benchmark: the whole platform under load, on PostgreSQL and Redis.

Starts gunicorn and N Celery worker processes, submits backtests over HTTP (one year of
15-minute bars, three modules, distinct parameters so nothing is cached) and prints runs per
minute and submit-to-SUCCEEDED latency, without and with PDF, plus a repeated batch answered
from the result cache, and the latency of a single run on an idle system.

    python3 bench/throughput.py [--runs 300] [--pdf-runs 300] [--workers 2]

It creates (and drops) the PostgreSQL database ``qm_bench`` and uses Redis database 10.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import requests
from harness import PG, BenchPlatform

PLATFORM = BenchPlatform("throughput", db="qm_bench", redis_db=10, port=8765)
DB = PLATFORM.db
BASE = PLATFORM.base
ORIGINAL = "6–10 runs/min, 3–10 s per run (original report)"


def body(i: int) -> dict:
    """Distinct parameters per i: RSI period and level, EMA period, take profit."""
    return {
        "marketContext": {
            "market": "EURUSD",
            "timeframe": "15m",
            "direction": "Long",
            "startDate": "2024-01-01T00:00:00Z",
            "endDate": "2025-01-01T00:00:00Z",
            "dataSource": "synthetic",
        },
        "decisionBlocks": [
            {
                "label": "Setup",
                "subConfirmations": [
                    {
                        "moduleId": "rsi",
                        "config": {"period": 7 + i % 20, "operator": "<", "value": 25 + (i // 20) % 15},
                    },
                    {
                        "moduleId": "ema",
                        "config": {"period": 50 + i % 7 * 10, "operator": "<", "value": {"column": "close"}},
                    },
                    {"moduleId": "atr", "config": {"period": 14, "operator": ">", "value": 0}},
                ],
            }
        ],
        "exit": {"stopLoss": 0.5, "takeProfit": round(1.0 + (i % 13) / 10, 2)},
    }


def submit_all(token: str, bodies: list[dict]) -> list[str]:
    headers = {"Authorization": f"Token {token}"}
    with requests.Session() as session, ThreadPoolExecutor(8) as pool:

        def post(b):
            r = session.post(f"{BASE}/api/v1/backtests", json=b, headers=headers, timeout=60)
            r.raise_for_status()
            return r.json()["id"]

        return list(pool.map(post, bodies))


def wait_done(ids: list[str], timeout: float = 1800) -> list[tuple]:
    deadline = time.monotonic() + timeout
    with psycopg.connect(**PG, dbname=DB) as conn:
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT status, created_at, finished_at FROM backtests_backtestrun WHERE id = ANY(%s::uuid[])", (ids,)
            ).fetchall()
            conn.commit()
            if len(rows) == len(ids) and all(r[0] in ("SUCCEEDED", "FAILED", "CANCELLED") for r in rows):
                return rows
            time.sleep(0.05)
    raise RuntimeError("runs did not finish in time")


def batch(token: str, bodies: list[dict]) -> dict:
    started = time.monotonic()
    ids = submit_all(token, bodies)
    rows = wait_done(ids)
    elapsed = time.monotonic() - started
    failed = [r for r in rows if r[0] != "SUCCEEDED"]
    latencies = sorted((r[2] - r[1]).total_seconds() for r in rows)
    return {
        "runs": len(ids),
        "failed": len(failed),
        "elapsed": elapsed,
        "per_min": len(ids) / elapsed * 60,
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
    }


def single(token: str, n: int, offset: int) -> dict:
    """Idle-system latency: one run at a time, measured by the client from POST to SUCCEEDED."""
    headers = {"Authorization": f"Token {token}"}
    latencies = []
    for i in range(n):
        started = time.monotonic()
        run_id = requests.post(f"{BASE}/api/v1/backtests", json=body(offset + i), headers=headers, timeout=30).json()[
            "id"
        ]
        while requests.get(f"{BASE}/api/v1/backtests/{run_id}", headers=headers, timeout=30).json()["status"] not in (
            "SUCCEEDED",
            "FAILED",
        ):
            time.sleep(0.01)
        latencies.append(time.monotonic() - started)
    return {"p50": statistics.median(latencies), "p95": sorted(latencies)[int(0.95 * (n - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--pdf-runs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    token = PLATFORM.setup_database()
    rows = []
    for render_pdf, n, offset in ((False, args.runs, 0), (True, args.pdf_runs, 100_000)):
        PLATFORM.start(args.workers, QM_RENDER_PDF=int(render_pdf))
        try:
            single(token, 1, offset + 90_000)  # warm: data into storage, Chromium started
            idle = single(token, 10, offset + 90_001)
            result = batch(token, [body(offset + i) for i in range(n)])
            label = "with PDF" if render_pdf else "without PDF"
            rows.append((f"{n} distinct runs, {label}", result, idle))
            if not render_pdf:
                cached = batch(token, [body(offset + i) for i in range(n)])
                rows.append((f"{n} repeated runs, cache on", cached, None))
        finally:
            PLATFORM.stop()
    print(
        f"\nThroughput on {os.cpu_count()} cores, {args.workers} worker processes, PostgreSQL + Redis "
        f"(one year of 15m EURUSD bars, 3 modules per run)\n"
    )
    print("| batch | runs/min | p50 latency | p95 latency | idle single-run p50 | failed | vs original |")
    print("|---|---|---|---|---|---|---|")
    for label, r, idle in rows:
        idle_text = f"{idle['p50'] * 1000:.0f} ms" if idle else "–"
        print(
            f"| {label} | {r['per_min']:.0f} | {r['p50']:.2f} s | {r['p95']:.2f} s | {idle_text} | {r['failed']} "
            f"| {r['per_min'] / 8:.0f}× of 8/min |"
        )
    print(f"\nOriginal: {ORIGINAL}.")
    PLATFORM.drop_database()


if __name__ == "__main__":
    main()
