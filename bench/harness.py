"""The platform under benchmark: a throwaway PostgreSQL database, gunicorn and N Celery worker
processes on Redis, started as separate processes exactly as in production."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


class BenchPlatform:
    """``db``: a database created (and dropped) for the run; ``redis_db``: the broker's number;
    ``env``: extra settings (e.g. QM_RENDER_PDF)."""

    def __init__(
        self,
        name: str,
        db: str,
        redis_db: int,
        port: int,
        env: dict | None = None,
        redis_port: int | None = None,
        root: Path = ROOT,
    ):
        self.name, self.db, self.redis_db, self.port = name, db, redis_db, port
        self.root = root  # the source tree the platform runs (another one: an A/B against a baseline)
        self.var = root / "var" / f"bench-{name}"
        self.base = f"http://127.0.0.1:{port}"
        self.extra = env or {}
        self.procs: list[subprocess.Popen] = []
        self.secret_key = secrets.token_urlsafe(50)
        # ``redis_port``: a Redis server of the bench's own (started and stopped with the platform),
        # so its CPU time is this platform's alone; else the machine's shared one, database ``redis_db``
        self.redis_port = redis_port
        self.redis: subprocess.Popen | None = None

    @property
    def broker_url(self) -> str:
        if self.redis_port:
            return f"redis://127.0.0.1:{self.redis_port}/0"
        return f"redis://127.0.0.1:6379/{self.redis_db}"

    def env(self, **overrides) -> dict:
        e = dict(os.environ)
        e.update(
            DJANGO_SETTINGS_MODULE="qm_platform.settings",
            DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{self.db}",
            CELERY_BROKER_URL=self.broker_url,
            QM_VAR_DIR=str(self.var),
            QM_LOG_LEVEL="WARNING",
            PYTHONPATH=str(self.root),
            # production settings over plain HTTP on loopback
            DJANGO_SECRET_KEY=self.secret_key,
            QM_SSL_REDIRECT="0",
            QM_SECURE_COOKIES="0",
            QM_HSTS_SECONDS="0",
            # one client submits everything: the per-address limit is for the public internet
            QM_SUBMIT_ADDRESS_RATE="1000000/min",
        )
        e.update({k: str(v) for k, v in {**self.extra, **overrides}.items()})
        return e

    def setup_database(self) -> str:
        """A fresh database with migrations and the demo user; returns its API token."""
        with psycopg.connect(**PG, dbname="postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {self.db}")
        shutil.rmtree(self.var, ignore_errors=True)
        self.var.mkdir(parents=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=self.root, env=self.env(), check=True)
        out = subprocess.run(
            [sys.executable, "manage.py", "qm_demo"],
            cwd=self.root,
            env=self.env(),
            check=True,
            capture_output=True,
            text=True,
        )
        with psycopg.connect(**PG, dbname=self.db, autocommit=True) as conn:
            # the benchmark measures the platform, not a plan: its user is on the largest one
            conn.execute(
                "INSERT INTO plans_userplan (user_id, plan_id, assigned_at) "
                "SELECT id, 'elite', now() FROM auth_user WHERE username = 'demo'"
            )
            # and neither a daily quota nor a submission rate: a bench of several batches submits more
            conn.execute(
                "UPDATE plans_plan SET runs_per_day = GREATEST(runs_per_day, 1000000), submit_rate = '1000000/min' "
                "WHERE slug = 'elite'"
            )
        if not self.redis_port:
            subprocess.run(["redis-cli", "-n", str(self.redis_db), "flushdb"], check=True, capture_output=True)
        return out.stdout.strip()

    def start_redis(self) -> None:
        """The bench's own Redis (no persistence), when ``redis_port`` is set."""
        if not self.redis_port or self.redis is not None:
            return
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("the bench's Redis did not start")

    def stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(timeout=30)
            self.redis = None

    def process_cpu(self) -> dict[int, tuple[str, float]]:
        """CPU seconds (user + system) used so far by each of this platform's processes, with its
        role: ``http`` (gunicorn), ``workers`` (Celery, Chromium included), ``postgres`` (the server
        processes serving this bench's database; the machine's PostgreSQL is shared, so only
        backends connected to it count) and ``redis`` (only with a Redis of the bench's own)."""
        tick = os.sysconf("SC_CLK_TCK")
        roles = {p.pid: ("http" if "gunicorn" in " ".join(p.args) else "workers") for p in self.procs}
        if self.redis is not None:
            roles[self.redis.pid] = "redis"
        out = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # the process ended meanwhile
            fields = stat[stat.rindex(")") + 2 :].split()
            session, used = int(fields[3]), int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
            role = roles.get(session)
            if role is None and cmdline.startswith("postgres: ") and f" {self.db} " in cmdline:
                role = "postgres"
            if role is not None:
                out[int(entry.name)] = (role, used / tick)
        return out

    def start(self, workers: int, processes: int = 1, **env) -> None:
        """gunicorn and ``workers`` Celery workers of ``processes`` pool processes each."""
        self.start_redis()
        e = self.env(**env)
        # the processes write to their own copies of the descriptor: ours is closed once they are started
        with open(self.var / "bench.log", "ab") as log:
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "qm_platform.wsgi:application",
                        "--bind",
                        f"127.0.0.1:{self.port}",
                        "--workers",
                        "2",
                        "--threads",
                        "4",
                        "--timeout",
                        "300",
                        "--log-level",
                        "warning",
                    ],
                    cwd=self.root,
                    env=e,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            for n in range(workers):
                self.procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "celery",
                            "-A",
                            "qm_platform",
                            "worker",
                            f"--concurrency={processes}",
                            "--without-gossip",
                            "--without-mingle",
                            "-n",
                            f"{self.name}{n}@%h",
                            "--loglevel=WARNING",
                        ],
                        cwd=self.root,
                        env=e,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        time.sleep(3)  # workers connect

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.procs = []

    def drop_database(self) -> None:
        self.stop_redis()
        with psycopg.connect(**PG, dbname="postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")


def baseline_tree(ref: str) -> Path:
    """The files of ``ref`` (``git archive``, unpacked under var/ and kept for the next call) with
    its kernel cache filled, for benches that run a baseline and this tree in turns."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    tree = ROOT / "var" / f"baseline-{sha}"
    if not (tree / "manage.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="qm_platform.settings", DJANGO_DEBUG="1", PYTHONPATH=str(tree))
        subprocess.run([sys.executable, "manage.py", "warm_kernels"], cwd=tree, env=env, check=True)
    return tree


ROLES = ("http", "workers", "postgres", "redis")


class CpuMeter:
    """CPU seconds of a platform's processes by role over a span (``with CpuMeter(p) as meter``),
    sampled every ``interval`` seconds: a process that ends inside the span (a database backend
    recycled after CONN_MAX_AGE) keeps what it used up to its last sample."""

    def __init__(self, platform: BenchPlatform, interval: float = 0.5):
        self.platform, self.interval = platform, interval
        self.first: dict[int, tuple[str, float]] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample_until_done, daemon=True)

    def __enter__(self) -> CpuMeter:
        self.first = self.platform.process_cpu()
        self.last = dict(self.first)
        self.thread.start()
        return self

    def _sample_until_done(self) -> None:
        while not self.done.wait(self.interval):
            self.last.update(self.platform.process_cpu())

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()
        self.last.update(self.platform.process_cpu())

    def seconds(self) -> dict[str, float]:
        out = dict.fromkeys(ROLES, 0.0)
        for pid, (role, used) in self.last.items():
            out[role] += used - self.first.get(pid, (role, 0.0))[1]
        return out
