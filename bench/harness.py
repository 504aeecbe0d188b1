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
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


class BenchPlatform:
    """``db``: a database created (and dropped) for the run; ``redis_db``: the broker's number;
    ``env``: extra settings (e.g. QM_RENDER_PDF)."""

    def __init__(self, name: str, db: str, redis_db: int, port: int, env: dict | None = None):
        self.name, self.db, self.redis_db, self.port = name, db, redis_db, port
        self.var = ROOT / "var" / f"bench-{name}"
        self.base = f"http://127.0.0.1:{port}"
        self.extra = env or {}
        self.procs: list[subprocess.Popen] = []
        self.secret_key = secrets.token_urlsafe(50)

    def env(self, **overrides) -> dict:
        e = dict(os.environ)
        e.update(
            DJANGO_SETTINGS_MODULE="qm_platform.settings",
            DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{self.db}",
            CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{self.redis_db}",
            QM_VAR_DIR=str(self.var),
            QM_LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
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
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env(), check=True)
        out = subprocess.run(
            [sys.executable, "manage.py", "qm_demo"],
            cwd=ROOT,
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
        subprocess.run(["redis-cli", "-n", str(self.redis_db), "flushdb"], check=True, capture_output=True)
        return out.stdout.strip()

    def start(self, workers: int, **env) -> None:
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
                    cwd=ROOT,
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
                            "--concurrency=1",
                            "--without-gossip",
                            "--without-mingle",
                            "-n",
                            f"{self.name}{n}@%h",
                            "--loglevel=WARNING",
                        ],
                        cwd=ROOT,
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
        with psycopg.connect(**PG, dbname="postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
