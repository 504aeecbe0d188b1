"""Batch benchmark: a 1,000-combination sweep on one year of 15-minute bars.

Starts gunicorn and N Celery worker processes (default 2) on PostgreSQL and Redis, without a
PDF per run (one batch report, rendered on the reports queue), and prints:

- the time to POST the batch (validated and saved; its runs are saved by a task),
- the POST latency of a 10,000-combination batch (``--large``) and the time until the task
  has saved all its runs (the batch is then cancelled: one update),
- submit → batch SUCCEEDED (all runs final, summary with best run and DSR built),
- submit → batch PDF stored,
- wall time per combination against a single run's time on an idle system, so the batching
  overhead is visible, and the same batch again (answered from the result cache).

- the floor: ``combinations`` × a single run's time in the worker ÷ ``workers``, and the
  batch's time against it (the batching overhead; goal ≤ 1.2×).

    python3 bench/batch.py [--workers 2] [--combinations 1000] [--large 10000] [--baseline GIT_REF]

``--baseline`` runs the same measurements on that commit's code first (A/B in one run, at the
same load). It creates (and drops) the PostgreSQL database ``qm_bench_batch`` (and
``qm_bench_batch_base``) and starts Redis servers of its own on ports 6392 and 6393.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import psycopg
import requests
from harness import PG, BenchPlatform, CpuMeter, baseline_tree

ENV = {"QM_RENDER_PDF": 0, "QM_BATCH_RENDER_PDF": 1}
PLATFORM = BenchPlatform("batch", db="qm_bench_batch", redis_db=11, port=8766, env=ENV, redis_port=6392)
PERIOD = "decisionBlocks[0].subConfirmations[0].config.period"
LEVEL = "decisionBlocks[0].subConfirmations[0].config.value"
TP = "exit.takeProfit"


def strategy(period: int = 14, level: float = 30, take_profit: float = 1.5) -> dict:
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
                    {"moduleId": "rsi", "config": {"period": period, "operator": "<", "value": level}},
                    {"moduleId": "ema", "config": {"period": 100, "operator": "<", "value": {"column": "close"}}},
                ],
            }
        ],
        "exit": {"stopLoss": 0.5, "takeProfit": take_profit},
    }


def grid(combinations: int) -> dict:
    """Three parameters, as close to a cube of ``combinations`` as integers allow (1000: 10³)."""
    side = round(combinations ** (1 / 3))
    third = max(1, combinations // (side * side))
    return {
        PERIOD: [5 + 2 * i for i in range(side)],
        LEVEL: [20 + 2 * i for i in range(side)],
        TP: [round(1.0 + 0.2 * i, 1) for i in range(third)],
    }


def single_runs(platform: BenchPlatform, headers: dict, n: int) -> tuple[list[float], list[float]]:
    """POST → SUCCEEDED latency seen by the client, and the run's own duration in the worker."""
    latencies, durations = [], []
    for i in range(n):
        started = time.monotonic()
        run_id = requests.post(
            f"{platform.base}/api/v1/backtests", json=strategy(60 + i, 31, 1.55), headers=headers, timeout=30
        ).json()["id"]
        while True:
            run = requests.get(f"{platform.base}/api/v1/backtests/{run_id}", headers=headers, timeout=30).json()
            if run["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            time.sleep(0.01)
        latencies.append(time.monotonic() - started)
        durations.append(run["duration_seconds"] or 0.0)
    return latencies, durations


def wait_batch(platform: BenchPlatform, batch_id: str, timeout: float = 1800) -> tuple[float, float | None]:
    """Seconds until the batch is final, and until its PDF is stored (from now)."""
    started = time.monotonic()
    done = None
    with psycopg.connect(**PG, dbname=platform.db, autocommit=True) as conn:
        while time.monotonic() - started < timeout:
            status, report_key, report_error = conn.execute(
                "SELECT status, report_key, report_error FROM batches_batch WHERE id = %s", (batch_id,)
            ).fetchone()
            if done is None and status in ("SUCCEEDED", "FAILED", "CANCELLED"):
                done = time.monotonic() - started
            if done is not None and (report_key or report_error):
                return done, (time.monotonic() - started) if report_key else None
            time.sleep(0.05)
    raise RuntimeError("the batch did not finish in time")


def batch_stats(platform: BenchPlatform, batch_id: str) -> dict:
    with psycopg.connect(**PG, dbname=platform.db) as conn:
        rows = conn.execute(
            "SELECT status, cached, EXTRACT(EPOCH FROM finished_at - started_at), started_at, "
            "finished_at, timings FROM backtests_backtestrun WHERE batch_id = %s",
            (batch_id,),
        ).fetchall()
        created, finished = conn.execute(
            "SELECT created_at, finished_at FROM batches_batch WHERE id = %s", (batch_id,)
        ).fetchone()
    ran = [r for r in rows if not r[1] and r[2] is not None]
    # a run's own time in the worker (a run of a chunk is stored with the chunk, after the others)
    durations = sorted(r[5]["worker"] / 1000 if r[5] and "worker" in r[5] else float(r[2]) for r in ran)
    span = (max(r[4] for r in ran) - min(r[3] for r in ran)).total_seconds() if ran else 0.0
    steps: dict[str, float] = {}
    timed = [r[5] for r in ran if r[5]]
    for timings in timed:
        for step, ms in timings.items():
            steps[step] = steps.get(step, 0.0) + ms / len(timed)
    return {
        "runs": len(rows),
        "failed": sum(1 for r in rows if r[0] != "SUCCEEDED"),
        "cached": sum(1 for r in rows if r[1]),
        "p50": statistics.median(durations) if durations else 0.0,
        "busy": sum(durations),
        "span": span,
        "steps": steps,
        # submit → the first run started, and the last run stored → the batch final (its summary)
        "first_start": (min(r[3] for r in ran) - created).total_seconds() if ran else 0.0,
        "tail": (finished - max(r[4] for r in ran)).total_seconds() if ran and finished else 0.0,
    }


def run_batch(platform: BenchPlatform, headers: dict, definition: dict) -> dict:
    with CpuMeter(platform) as meter:
        started = time.monotonic()
        response = requests.post(f"{platform.base}/api/v1/batches", json=definition, headers=headers, timeout=600)
        response.raise_for_status()
        posted = time.monotonic() - started
        done, pdf = wait_batch(platform, response.json()["id"])
    cpu = meter.seconds()
    stats = batch_stats(platform, response.json()["id"])
    return {
        "id": response.json()["id"],
        "post": posted,
        "done": posted + done,
        "pdf": posted + pdf if pdf is not None else None,
        "cpu_ms": {role: seconds * 1000 / max(1, stats["runs"]) for role, seconds in cpu.items()},
        "load": os.getloadavg(),
        **stats,
    }


def large_batch_post(platform: BenchPlatform, headers: dict, combinations: int) -> tuple[float, float]:
    """POST latency of a ``combinations``-run batch, and submit → every run saved (stage running).
    The plans' limits are lifted first; the batch is cancelled afterwards."""
    with psycopg.connect(**PG, dbname=platform.db, autocommit=True) as conn:
        conn.execute(
            "UPDATE plans_plan SET combinations_per_batch = GREATEST(combinations_per_batch, %s), "
            "runs_per_day = GREATEST(runs_per_day, %s)",
            (combinations, combinations * 3),
        )
    sweep = {
        PERIOD: [5 + i for i in range(10)],
        LEVEL: [20 + i for i in range(10)],
        TP: [round(1.0 + 0.01 * i, 2) for i in range(max(1, combinations // 100))],
    }
    definition = {"name": "bench large", "strategy": strategy(), "grid": sweep}
    started = time.monotonic()
    response = requests.post(f"{platform.base}/api/v1/batches", json=definition, headers=headers, timeout=600)
    response.raise_for_status()
    posted = time.monotonic() - started
    batch_id = response.json()["id"]
    with psycopg.connect(**PG, dbname=platform.db, autocommit=True) as conn:
        while conn.execute("SELECT stage, status FROM batches_batch WHERE id = %s", (batch_id,)).fetchone() == (
            "creating_runs",
            "RUNNING",
        ):
            time.sleep(0.05)
    created = time.monotonic() - started
    requests.post(f"{platform.base}/api/v1/batches/{batch_id}/cancel", headers=headers, timeout=60)
    return posted, created


def measure(platform: BenchPlatform, args) -> dict:
    """Everything the table shows, on one platform."""
    token = platform.setup_database()
    headers = {"Authorization": f"Token {token}"}
    platform.start(args.workers)
    try:
        single_runs(platform, headers, 2)  # warm: data into storage, modules compiled, connections open
        latencies, durations = single_runs(platform, headers, 10)
        definition = {
            "name": "bench sweep",
            "strategy": strategy(),
            "grid": grid(args.combinations),
            "objective": "sharpe",
            "constraints": {"min_trades": 20},
        }
        first = run_batch(platform, headers, definition)
        again = run_batch(platform, headers, definition)
        large = large_batch_post(platform, headers, args.large) if args.large else None
    finally:
        platform.stop()
        platform.stop_redis()
    platform.drop_database()
    return {"latencies": latencies, "durations": durations, "first": first, "again": again, "large": large}


def print_table(label: str, m: dict, args) -> None:
    first, again, large = m["first"], m["again"], m["large"]
    single = statistics.median(m["latencies"])
    single_worker = statistics.median(m["durations"])
    n = first["runs"]
    per_combination = first["done"] / n
    floor = n * single_worker / args.workers
    print(
        f"\nBatch sweep, {label}, on {os.cpu_count()} cores, {args.workers} worker processes, PostgreSQL + Redis "
        f"(one year of 15m EURUSD bars, {n} combinations of RSI period × RSI level × take profit, "
        f"no PDF per run, one batch PDF; load average {first['load'][0]:.1f})\n"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| POST /api/v1/batches ({n} combinations validated and saved) | {first['post']:.1f} s |")
    print(f"| submit → batch SUCCEEDED (summary, best run, DSR) | **{first['done']:.1f} s** (goal ≤ 30 s) |")
    print(
        f"| floor: {n} × a single run's time in the worker ÷ {args.workers} workers | {floor:.1f} s "
        f"(batch / floor: **{first['done'] / floor:.2f}×**, goal ≤ 1.2×) |"
    )
    print(
        f"| submit → first run started / last run stored → batch final | {first['first_start']:.1f} s / "
        f"{first['tail']:.1f} s |"
    )
    print(f"| submit → batch PDF stored | {first['pdf']:.1f} s |" if first["pdf"] else "| batch PDF | failed |")
    print(f"| wall time per combination | {per_combination * 1000:.0f} ms |")
    print(f"| single run on an idle system, POST → SUCCEEDED (p50 of 10) | {single * 1000:.0f} ms |")
    print(f"| single run, time in the worker (p50) | {single_worker * 1000:.0f} ms |")
    print(f"| batch run, time in the worker (p50) | {first['p50'] * 1000:.0f} ms |")
    if first["span"]:
        print(
            f"| worker busy time / ({args.workers} × first-start-to-last-finish) | "
            f"{first['busy'] / (args.workers * first['span']) * 100:.0f}% |"
        )
    cpu = first["cpu_ms"]
    print(
        "| CPU per combination: HTTP / workers / PostgreSQL / Redis | "
        f"{cpu['http']:.1f} / {cpu['workers']:.1f} / {cpu['postgres']:.1f} / {cpu['redis']:.1f} ms |"
    )
    print(f"| failed runs | {first['failed']} |")
    print(f"| same batch again (all {again['cached']} answered from the result cache) | {again['done']:.1f} s |")
    if large:
        print(f"| POST /api/v1/batches ({args.large:,} combinations: validated, saved, task sent) | {large[0]:.2f} s |")
        print(f"| submit → all {args.large:,} runs saved by the task (bulk, in chunks) | {large[1]:.1f} s |")
    if first["steps"]:
        steps = ", ".join(f"{step} {ms:.1f}" for step, ms in first["steps"].items())
        print(f"\nWhere a batch run's milliseconds go (mean, as its worker timed them): {steps}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--combinations", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10_000, help="combinations of the POST-latency batch (0: skip)")
    parser.add_argument("--baseline", metavar="GIT_REF", help="measure that commit's code first, at the same load")
    args = parser.parse_args()
    results = []
    if args.baseline:
        base = BenchPlatform(
            "batch-base",
            db="qm_bench_batch_base",
            redis_db=13,
            port=8768,
            env=ENV,
            redis_port=6393,
            root=baseline_tree(args.baseline),
        )
        results.append((f"baseline {args.baseline}", measure(base, args)))
    results.append(("this tree", measure(PLATFORM, args)))
    for label, m in results:
        print_table(label, m, args)
    if len(results) == 2:
        (_, a), (_, b) = results
        print(
            f"\nThis tree against the baseline: {b['first']['done']:.1f} s vs {a['first']['done']:.1f} s "
            f"({a['first']['done'] / b['first']['done']:.2f}× faster)"
        )


if __name__ == "__main__":
    main()
