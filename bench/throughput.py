"""Throughput benchmark: the whole platform under load, on PostgreSQL and Redis.

Starts gunicorn and N Celery worker processes, submits backtests over HTTP (one year of
15-minute bars, three modules, distinct parameters so nothing is cached) and prints runs per
minute and submit-to-SUCCEEDED latency, without and with PDF, plus a repeated batch answered
from the result cache, and the latency of a single run on an idle system.

Then where each run's milliseconds go: the steps the worker times and stores with every run
(``BacktestRun.timings``: submit in the API, claim, data, modules, simulate, metrics, report
data, Monte Carlo, database writes, ...; averaged over the batch), and the CPU time each kind of
process spent per run (HTTP, workers, PostgreSQL, Redis: read from /proc before and after the
batch), from which the scaling table follows: what one host of N workers does, and how many
hosts one PostgreSQL and one Redis serve before they saturate.

    python3 bench/throughput.py [--runs 300] [--pdf-runs 300] [--workers 2] [--scaling] [--processes 2]

``--scaling`` adds a batch on 1 worker; ``--processes N`` one on the same workers with N pool
processes each (a worker's run waits on PostgreSQL for part of its time, which another process
can compute in). It creates (and drops) the PostgreSQL database
``qm_bench`` and starts a Redis server of its own on port 6390 (so its CPU time is the bench's
alone; the machine's PostgreSQL is shared, so only the backends of ``qm_bench`` are counted).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import requests
from harness import PG, BenchPlatform, CpuMeter, baseline_tree

PLATFORM = BenchPlatform("throughput", db="qm_bench", redis_db=10, port=8765, redis_port=6390)
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


def submit_all(platform: BenchPlatform, token: str, bodies: list[dict]) -> list[str]:
    headers = {"Authorization": f"Token {token}"}
    with requests.Session() as session, ThreadPoolExecutor(8) as pool:

        def post(b):
            r = session.post(f"{platform.base}/api/v1/backtests", json=b, headers=headers, timeout=60)
            r.raise_for_status()
            return r.json()["id"]

        return list(pool.map(post, bodies))


def wait_done(platform: BenchPlatform, ids: list[str], timeout: float = 1800) -> list[tuple]:
    deadline = time.monotonic() + timeout
    with psycopg.connect(**PG, dbname=platform.db) as conn:
        timed = conn.execute(  # a baseline from before the runs' timings were stored has no such column
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'backtests_backtestrun' "
            "AND column_name = 'timings'"
        ).fetchone()[0]
        while time.monotonic() < deadline:
            (done,) = conn.execute(
                "SELECT count(*) FROM backtests_backtestrun WHERE id = ANY(%s::uuid[]) "
                "AND status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')",
                (ids,),
            ).fetchone()
            conn.commit()
            if done == len(ids):
                rows = conn.execute(
                    f"SELECT status, created_at, finished_at, {'timings' if timed else 'NULL'} "
                    "FROM backtests_backtestrun WHERE id = ANY(%s::uuid[])",
                    (ids,),
                ).fetchall()
                conn.commit()
                return rows
            time.sleep(0.1)
    raise RuntimeError("runs did not finish in time")


def batch(platform: BenchPlatform, token: str, bodies: list[dict]) -> dict:
    with CpuMeter(platform) as meter:
        started = time.monotonic()
        ids = submit_all(platform, token, bodies)
        rows = wait_done(platform, ids)
        elapsed = time.monotonic() - started
    cpu = meter.seconds()
    failed = [r for r in rows if r[0] != "SUCCEEDED"]
    latencies = sorted((r[2] - r[1]).total_seconds() for r in rows)
    steps: dict[str, float] = {}
    timed = [r[3] for r in rows if r[3]]
    for timings in timed:
        for step, ms in timings.items():
            steps[step] = steps.get(step, 0.0) + ms / len(timed)
    return {
        "runs": len(ids),
        "failed": len(failed),
        "elapsed": elapsed,
        "per_min": len(ids) / elapsed * 60,
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "steps": steps,
        "cpu_ms": {role: seconds * 1000 / len(ids) for role, seconds in cpu.items()},
        "load": os.getloadavg(),
    }


# the steps of BacktestRun.timings, in the order a run goes through them, with what each is
STEPS = {
    "submit": "HTTP: the API's service (compile, plan checks, fingerprint, cache lookup, save)",
    "claim": "DB: claim (conditional update, lease)",
    "load_run": "DB: read the run",
    "prepare": "calendar, instrument, strategy build, plan",
    "data": "data: market data from storage, quality report",
    "modules": "engine: modules",
    "simulate": "engine: simulation (compiled kernel)",
    "metrics": "engine: trades frame, metrics",
    "trade_rows": "trade rows (model objects)",
    "equity_curves": "equity curves (600 and 5,000 points)",
    "benchmark": "benchmark comparison",
    "report_data": "report data (price windows, benchmark, rolling)",
    "montecarlo": "Monte Carlo (10,000 paths x 2 methods)",
    "db_write": "DB: results written (trades, metrics, report data, curves)",
    "progress": "DB: progress writes and cancel checks",
    "pdf_html": "PDF: report HTML",
    "pdf_print": "PDF: Chromium print, artifact stored",
}


def print_breakdown(label: str, r: dict) -> None:
    steps = dict(r["steps"])
    worker = steps.pop("worker", 0.0)
    submit = steps.pop("submit", 0.0)
    print(f"\nWhere a run's milliseconds go ({label}; mean of {r['runs']} runs, as each worker timed them):\n")
    print("| step | ms per run | share of the worker's time |")
    print("|---|---:|---:|")
    print(f"| {STEPS['submit']} | {submit:.1f} | (API process) |")
    for step in [s for s in STEPS if s in steps] + sorted(s for s in steps if s not in STEPS):
        print(f"| {STEPS.get(step, step)} | {steps[step]:.1f} | {steps[step] / worker * 100 if worker else 0:.0f}% |")
    rest = worker - sum(steps.values())
    print(
        f"| rest (task overhead, final status write, Python between steps) | {rest:.1f} | "
        f"{rest / worker * 100 if worker else 0:.0f}% |"
    )
    print(f"| **worker, claim to results stored** | **{worker:.1f}** | 100% |")
    cpu = r["cpu_ms"]
    total = sum(cpu.values())
    print(
        f"\nCPU time per run by process ({label}; /proc, user + system; load average "
        f"{r['load'][0]:.1f} {r['load'][1]:.1f} {r['load'][2]:.1f}):\n"
    )
    print("| process | CPU ms per run | share | runs/min one core of it sustains |")
    print("|---|---:|---:|---:|")
    names = {
        "http": "HTTP (gunicorn)",
        "workers": "Celery workers",
        "postgres": "PostgreSQL (this database's backends)",
        "redis": "Redis (the bench's own)",
    }
    for role, ms in cpu.items():
        print(
            f"| {names[role]} | {ms:.1f} | {ms / total * 100 if total else 0:.0f}% | "
            f"{60_000 / ms if ms else float('inf'):,.0f} |"
        )
    print(f"| all | {total:.1f} | 100% | {60_000 / total if total else 0:,.0f} |")


def single(platform: BenchPlatform, token: str, n: int, offset: int) -> dict:
    """Idle-system latency: one run at a time, measured by the client from POST to SUCCEEDED."""
    headers = {"Authorization": f"Token {token}"}
    latencies = []
    for i in range(n):
        started = time.monotonic()
        url = f"{platform.base}/api/v1/backtests"
        response = requests.post(url, json=body(offset + i), headers=headers, timeout=30)
        response.raise_for_status()
        run_id = response.json()["id"]
        while requests.get(f"{url}/{run_id}", headers=headers, timeout=30).json()["status"] not in (
            "SUCCEEDED",
            "FAILED",
        ):
            time.sleep(0.01)
        latencies.append(time.monotonic() - started)
    return {"p50": statistics.median(latencies), "p95": sorted(latencies)[int(0.95 * (n - 1))]}


def measure(
    platform: BenchPlatform, token: str, render_pdf: bool, n: int, offset: int, workers: int, processes: int = 1
) -> list:
    """The rows of one platform: ``n`` distinct runs (and, without PDF, the same again from the cache),
    on ``workers`` Celery workers of ``processes`` pool processes each."""
    rows = []
    platform.start(workers, processes, QM_RENDER_PDF=int(render_pdf))
    who = f"{workers} worker(s)" + (f" × {processes} processes" if processes > 1 else "")
    try:
        single(platform, token, 1, offset + 90_000)  # warm: data into storage, Chromium started
        idle = single(platform, token, 10, offset + 90_001)
        result = batch(platform, token, [body(offset + i) for i in range(n)])
        rows.append((f"{n} distinct runs, {'with PDF' if render_pdf else 'without PDF'}, {who}", result, idle))
        if not render_pdf:
            cached = batch(platform, token, [body(offset + i) for i in range(n)])
            rows.append((f"{n} repeated runs, cache on, {who}", cached, None))
    finally:
        platform.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--pdf-runs", type=int, default=300, help="0: no PDF row")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scaling", action="store_true", help="also a batch on 1 worker (the scaling table)")
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        metavar="N",
        help="also the no-PDF batch on the same workers with N pool processes each (--concurrency=N): "
        "more processes than cores overlap one run's database waits with another's computing",
    )
    parser.add_argument(
        "--baseline", metavar="GIT_REF", help="run each batch on that commit's code too, in turns (A/B in one run)"
    )
    args = parser.parse_args()
    platforms = [("this tree", PLATFORM)]
    if args.baseline:
        tree = baseline_tree(args.baseline)
        base = BenchPlatform("throughput-base", db="qm_bench_base", redis_db=12, port=8767, redis_port=6391, root=tree)
        platforms.insert(0, (f"baseline {args.baseline}", base))
    tokens = {name: platform.setup_database() for name, platform in platforms}
    plan = [(False, args.runs, 0, args.workers, 1)]
    if args.scaling:
        plan.append((False, args.runs, 200_000, 1, 1))
    if args.processes > 1:
        plan.append((False, args.runs, 300_000, args.workers, args.processes))
    if args.pdf_runs:
        plan.append((True, args.pdf_runs, 100_000, args.workers, 1))
    rows, breakdowns = [], []
    try:
        for render_pdf, n, offset, workers, processes in plan:
            for name, platform in platforms:
                measured = measure(platform, tokens[name], render_pdf, n, offset, workers, processes)
                rows += [(name, *row) for row in measured]
                if name == "this tree":
                    breakdowns.append(measured[0][:2])
    finally:
        for _, platform in platforms:
            platform.stop_redis()
    print(
        f"\nThroughput on {os.cpu_count()} cores, PostgreSQL + Redis (one year of 15m EURUSD bars, 3 modules per run)\n"
    )
    print("| code | batch | runs/min | p50 latency | p95 latency | idle single-run p50 | failed | load average |")
    print("|---|---|---|---|---|---|---|---|")
    for code, label, r, idle in rows:
        idle_text = f"{idle['p50'] * 1000:.0f} ms" if idle else "–"
        print(
            f"| {code} | {label} | {r['per_min']:.0f} | {r['p50']:.2f} s | {r['p95']:.2f} s | {idle_text} "
            f"| {r['failed']} | {r['load'][0]:.1f} |"
        )
    if args.baseline:
        print("\nThis tree against the baseline, batch by batch (measured in turns, same load):")
        by_label: dict[str, dict] = {}
        for code, label, r, _ in rows:
            by_label.setdefault(label, {})[code] = r["per_min"]
        for label, per_code in by_label.items():
            values = list(per_code.values())
            if len(values) == 2:
                print(f"- {label}: {values[1]:,.0f} vs {values[0]:,.0f} runs/min ({values[1] / values[0]:.2f}×)")
    print(f"\nOriginal: {ORIGINAL}.")
    for label, r in breakdowns:
        print_breakdown(label, r)
    main_row = breakdowns[0][1]
    cpu = main_row["cpu_ms"]
    cores = os.cpu_count() or 1
    engine_ms = sum(main_row["steps"].get(k, 0.0) for k in ("modules", "simulate", "metrics"))
    host_rate = cores * 60_000 / (cpu["http"] + cpu["workers"])  # runs/min of one host's HTTP and workers
    pg_rate, redis_rate = 60_000 / max(cpu["postgres"], 1e-9), 60_000 / max(cpu["redis"], 1e-9)
    print(
        f"\nFloor at these costs: {cores} cores / {sum(cpu.values()):.1f} CPU ms per run = "
        f"{cores * 60_000 / sum(cpu.values()):,.0f} runs/min (measured {main_row['per_min']:,.0f}); "
        f"the engine's own time ({engine_ms:.1f} ms: modules, simulate, metrics) × {cores} cores: "
        f"{cores * 60_000 / max(engine_ms, 1e-9):,.0f} runs/min."
    )
    print(
        f"Fleet projection: a {cores}-core host of HTTP and workers does {host_rate:,.0f} runs/min; one PostgreSQL "
        f"core saturates at {pg_rate:,.0f} runs/min ({pg_rate / host_rate:.1f} hosts), one Redis core at "
        f"{redis_rate:,.0f} runs/min ({redis_rate / host_rate:.1f} hosts)."
    )
    for _, platform in platforms:
        platform.drop_database()


if __name__ == "__main__":
    main()
