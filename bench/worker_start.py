"""How soon a new worker serves: a run is waiting in the broker, a Celery worker process is started,
and the clock runs until the run is SUCCEEDED. Two cases, each started ``--trials`` times (3),
alternately, medians printed with the load average: with the kernel cache that
``manage.py warm_kernels`` filled at install (a fresh host from the image), and with an empty
cache (a host whose CPU the cache does not match: the worker compiles in the background and
serves the run through the kernels' Python code meanwhile).

    python3 bench/worker_start.py [--trials 3]   # PostgreSQL and Redis on loopback, like the tests

Prints a table; the goal is a first run finished within 10 s of the worker's start.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from harness import ROOT, BenchPlatform

sys.path.insert(0, str(ROOT))
from backtests.tests.factories import v4_body  # noqa: E402

# its own broker number and port: bench/batch.py uses 11 and 8766, and two benches may run at once
PLATFORM = BenchPlatform("worker-start", db="qm_bench_start", redis_db=13, port=8767, env={"QM_RENDER_PDF": "0"})
INSTALLED_CACHE = ROOT / "qm_platform" / "numba_cache"


def first_run(token: str, cache_dir: Path, label: str) -> dict:
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"
    body = v4_body(cache=False, exit__takeProfit=2.0 + len(label) / 100)
    created = api.post(f"{PLATFORM.base}/api/v1/backtests", json=body, timeout=30)
    created.raise_for_status()
    run_id = created.json()["id"]
    log_path = PLATFORM.var / f"worker-{label}.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "qm_platform", "worker", "--concurrency=1"]
            + ["--without-gossip", "--without-mingle", "-n", f"start-{label}@%h", "--loglevel=INFO"],
            cwd=ROOT,
            env=PLATFORM.env(NUMBA_CACHE_DIR=str(cache_dir)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ready = None
    try:
        while time.monotonic() - started < 600:
            if ready is None and b" ready." in log_path.read_bytes():
                ready = time.monotonic() - started
            run = api.get(f"{PLATFORM.base}/api/v1/backtests/{run_id}", timeout=10).json()
            if run["status"] in ("SUCCEEDED", "FAILED"):
                break
            time.sleep(0.1)
        done = time.monotonic() - started
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=60)
    return {"case": label, "ready_s": ready, "first_run_s": done, "status": run["status"]}


def main() -> None:
    trials = int(sys.argv[sys.argv.index("--trials") + 1]) if "--trials" in sys.argv else 3
    if not any(INSTALLED_CACHE.rglob("*.nbi")):
        sys.exit("no installed kernel cache: run `python3 manage.py warm_kernels` (scripts/setup.sh does) first")
    token = PLATFORM.setup_database()
    empties: list[Path] = []
    rows = []
    try:
        PLATFORM.start(workers=0)
        for _ in range(trials):  # alternated, so the machine's other load weighs on both alike
            rows.append(first_run(token, INSTALLED_CACHE, "cached"))
            empties.append(Path(tempfile.mkdtemp(prefix="qm-empty-numba-cache-")))  # a new one each time
            rows.append(first_run(token, empties[-1], "empty"))
    finally:
        PLATFORM.stop()
        PLATFORM.drop_database()
        for empty in empties:
            shutil.rmtree(empty, ignore_errors=True)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nA new worker's first run (6 months of 1h bars, RSI), {os.cpu_count()} cores, load average {load}")
    print(f"median of {trials} starts (fastest–slowest)")
    print("| kernel cache | worker ready | first run SUCCEEDED | status |")
    print("|---|---:|---:|---|")
    names = {"cached": "filled at install (warm_kernels)", "empty": "empty (compiles in the background)"}
    for case, name in names.items():
        mine = [row for row in rows if row["case"] == case]
        readies = [row["ready_s"] for row in mine if row["ready_s"] is not None]
        firsts = [row["first_run_s"] for row in mine]
        ready = f"{statistics.median(readies):.1f} s ({min(readies):.1f}–{max(readies):.1f})" if readies else "–"
        first = f"**{statistics.median(firsts):.1f} s** ({min(firsts):.1f}–{max(firsts):.1f})"
        print(f"| {name} | {ready} | {first} | {', '.join(sorted({row['status'] for row in mine}))} |")
    print("\nseconds after the worker process was started; goal: first run within 10 s")


if __name__ == "__main__":
    main()
