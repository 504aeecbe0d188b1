"""Run a chunk of one batch's runs in one task.

A sweep's runs differ only in their parameters: they read the same bars. A task per run pays,
per run, what they could share: a broker round trip, a claim, reading the run and its data,
progress writes, a commit, and the dispatcher's look for the next run. The dispatcher
(``services._chunks``) sends consecutive waiting runs of one batch as one
``backtests.tasks.run_backtest_chunk_task``, which:

- claims them with one conditional update and one lease (as :func:`services._claim` does one);
- loads each distinct data window once, computes each module configuration once on it (runs
  that differ in thresholds or exits share their modules' outputs, read-only) and its benchmark's
  closes as of its bars once (``services._benchmark``), and runs every
  run as the single run's path does (``run_backtest``, then :func:`services.results_to_store`:
  the same numbers);
- stores them in one transaction: each run's conditional final move (lease held: a run
  cancelled or taken over meanwhile is not stored) and one ``bulk_create`` of all their trades;
  then the owner's next runs are sent once, and the batch told once.

Faults, as for one run: the task is ``acks_late`` with ``reject_on_worker_lost``, and the
chunk's runs carry its lease and a heartbeat, so a redelivered chunk (its worker died) takes
over the runs whose heartbeat went stale and skips those already stored, and the reaper
requeues any run left behind, one by one; a run held by a live lease elsewhere is retried
later. A run that fails fails alone. Cancel is checked between the engine's progress calls as
for one run. A run that prints a PDF, or a portfolio, takes the single run's path inside the
chunk. The soft time limit fails the run it stops and sends the rest back to the queue.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from backtests.models import BacktestRun, RunStatus, Trade
from backtests.services import (
    ProgressWriter,
    RunCancelled,
    RunClock,
    _db_retry,
    _execute_claimed,
    _relaxed,
    after_final,
    backtest_reap_stale,
    claim_runs,
    market_annualisation,
    results_to_store,
    run_engine,
    run_failure,
    transition,
)
from backtests.strategies.parse import build_strategy
from backtests.strategies.portfolio import is_portfolio
from marketdata.selectors import instrument_resolve
from marketdata.services import market_data_load
from plans.selectors import plan_for_user

logger = logging.getLogger("qm.backtests")


@dataclass
class ChunkProgress(ProgressWriter):
    """The engine's progress callback for the run being computed (``run_id``), throttled as for
    one run; its writes are the heartbeat of every run of the chunk not stored yet (one update),
    its checks read which of them are still the chunk's: a cancelled one drops out (and
    RunCancelled stops it if it is the current one)."""

    pending: set = field(default_factory=set)

    def _mine(self):
        return BacktestRun.objects.filter(id__in=self.pending, status=RunStatus.RUNNING, lease_token=self.lease)

    def check(self) -> None:
        mine = self._timed(lambda: _db_retry(lambda: set(self._mine().values_list("id", flat=True))))
        self.pending &= mine
        self.last_check = time.monotonic()
        if self.run_id not in self.pending:
            raise RunCancelled()

    def write(self, stage: str, pct: int) -> None:
        changed = self._timed(
            lambda: _db_retry(lambda: _relaxed(lambda: self._mine().update(heartbeat_at=timezone.now())))
        )
        self.last_stage, self.last_write = stage, time.monotonic()
        if changed < len(self.pending):
            self.check()


@dataclass
class Outcome:
    """A computed run of the chunk, to store: its final status, fields and trade rows."""

    run: BacktestRun
    status: str
    fields: dict
    trades: list[Trade] = field(default_factory=list)


def backtest_execute_chunk(*, run_ids: list[str], task_id: str = "") -> tuple[int, list[str]]:
    """Claim and run the runs ``run_ids`` (of one batch), store them together. Safe to deliver
    twice. Returns how many runs this delivery claimed, and the ids of runs held by a live lease
    elsewhere (the task retries those once their heartbeat could be stale)."""
    started = time.perf_counter()
    lease, _ = claim_runs(run_ids, task_id)
    claim_ms = (time.perf_counter() - started) * 1000
    runs = list(BacktestRun.objects.filter(id__in=run_ids, lease_token=lease, status=RunStatus.RUNNING))
    runs.sort(key=lambda run: run.created_at)
    busy = _busy_elsewhere(run_ids, lease)
    if runs:
        shared = {"claim": claim_ms / len(runs), "load_run": (time.perf_counter() - started) * 1000 / len(runs)}
        shared["load_run"] -= shared["claim"]
        with _collector_paused():
            _run_claimed(runs, lease, shared)
    return len(runs), busy


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while a chunk computes and stores its runs. A
    chunk holds its runs' results (curves, report data: tens of thousands of lists and dicts)
    until it stores them together, so its allocations kept triggering full collections, each a
    walk over every object of the worker (Django, pandas, Numba: hundreds of thousands), about a
    tenth of a run's CPU. Memory is freed by reference counting as before; the few cycles a
    chunk leaves are collected once the collector is back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _busy_elsewhere(run_ids: list[str], lease: str) -> list[str]:
    """Runs of the chunk RUNNING under another lease: the ids to try again later. A run at its
    last attempt is left to the reaper (as for one run)."""
    others = BacktestRun.objects.filter(id__in=run_ids, status=RunStatus.RUNNING).exclude(lease_token=lease)
    busy = list(others.values_list("id", "attempts"))
    if any(attempts >= settings.QM_MAX_ATTEMPTS for _, attempts in busy):
        backtest_reap_stale()
    return [str(run_id) for run_id, attempts in busy if attempts < settings.QM_MAX_ATTEMPTS]


def _run_claimed(runs: list[BacktestRun], lease: str, shared: dict[str, float]) -> None:
    """Compute the claimed ``runs`` one after the other and store them together."""
    progress = ChunkProgress(
        run_id=None,
        lease=lease,
        min_interval=settings.QM_PROGRESS_MIN_INTERVAL,
        check_interval=settings.QM_CANCEL_CHECK_INTERVAL,
        pending={run.id for run in runs},
    )
    progress.last_check = progress.last_write = time.monotonic()
    shared_data: dict[tuple, object] = {}
    renders: dict[int, bool] = {}
    outcomes: list[Outcome] = []
    for index, run in enumerate(runs):
        if run.id not in progress.pending:
            continue  # cancelled meanwhile
        clock = RunClock(shared)
        clock.ms["worker"] = sum(shared.values())  # its share of the chunk's claim
        if run.owner_id not in renders:
            renders[run.owner_id] = bool(settings.QM_RENDER_PDF and plan_for_user(user=run.owner).pdf_reports)
        if renders[run.owner_id] or is_portfolio(run.request):
            progress.pending.discard(run.id)  # the single run's path keeps its own heartbeat
            _execute_claimed(run.id, lease, clock)
            continue
        progress.run_id, progress.clock = run.id, clock
        try:
            outcomes.append(_compute(run, clock, progress, shared_data))
        except RunCancelled:
            logger.info("run stopped: cancelled or taken over", extra={"run_id": str(run.id)})
        except (OperationalError, InterfaceError):
            raise  # the database is gone for good: the task retries; the lease protects the runs
        except Exception as exc:  # the run fails, the chunk goes on
            code, message = run_failure(exc, run.id)
            outcomes.append(_failed(run, code, message))
            if isinstance(exc, SoftTimeLimitExceeded) or code == "TIMEOUT":
                _release(runs[index + 1 :], lease)  # the hard limit is near: the rest go back to the queue
                break
        progress.pending.discard(run.id)
        progress.mark(None)
    _store(outcomes, lease)


def _compute(run: BacktestRun, clock: RunClock, progress: ChunkProgress, shared_data: dict) -> Outcome:
    """One run, as the single run's path computes it, its data window read once per chunk."""
    started_at = timezone.now()
    with clock.step("prepare"):
        market = ("market", run.market, run.timeframe)  # its terms and calendar: read once per chunk
        if market not in shared_data:
            shared_data[market] = (
                market_annualisation(symbol=run.market, timeframe=run.timeframe),
                instrument_resolve(symbol=run.market)[0],  # frozen: the runs share it
            )
        annualisation, instrument = shared_data[market]
        spec = build_strategy(run.request, instrument=instrument)
    progress.mark("loading_data")
    window = (run.market, run.timeframe, run.warmup_start, run.data_start, run.data_end, run.data_source)
    if window not in shared_data:  # the bars, the module outputs and the benchmarks computed on them so far
        shared_data[window] = (market_data_load(run=run), {}, {})
    loaded, operands, benchmarks = shared_data[window]
    loaded = dataclasses.replace(loaded, warnings=list(loaded.warnings))  # this run's own
    progress("loading_data", 1, 1)
    result = run_engine(run, spec, loaded, progress, annualisation, operands)
    progress.mark(None)
    fields, trades = results_to_store(run, result, loaded, clock, benchmarks)
    fields.update(progress=100, stage="done", started_at=started_at, timings=clock.as_dict())
    return Outcome(run, RunStatus.SUCCEEDED, fields, trades)


def _failed(run: BacktestRun, code: str, message: str) -> Outcome:
    logger.warning("run failed: %s %s", code, message, extra={"run_id": str(run.id)})
    return Outcome(run, RunStatus.FAILED, {"error_code": code, "error_message": message, "stage": "failed"})


def _release(runs: list[BacktestRun], lease: str) -> None:
    """Send runs the chunk claimed but will not compute back to the queue (the dispatcher sends
    them again)."""
    for run in runs:
        transition(
            run.id,
            to=RunStatus.QUEUED,
            frm=(RunStatus.RUNNING,),
            lease=lease,
            stage="queued",
            progress=0,
            lease_token="",
            dispatched_at=None,
        )


def _store(outcomes: list[Outcome], lease: str) -> None:
    """One transaction: each run's conditional final move (only while the lease holds), then the
    trades of those that moved, in one bulk insert. Then, once, the owners' next runs are sent
    and their batches told."""
    if not outcomes:
        return

    def write() -> list[Outcome]:
        with transaction.atomic():
            finished_at = timezone.now()
            stored = [
                outcome
                for outcome in outcomes
                if transition(
                    outcome.run.id,
                    to=outcome.status,
                    frm=(RunStatus.RUNNING,),
                    lease=lease,
                    notify=False,
                    finished_at=finished_at,
                    **outcome.fields,
                )
            ]
            retried = [outcome.run.id for outcome in stored if outcome.run.attempts > 1]
            if retried:  # an earlier attempt may have stored trades before it died
                Trade.objects.filter(run_id__in=retried).delete()
            _insert_trades([row for outcome in stored for row in outcome.trades])
        return stored

    stored = _db_retry(write)
    for owner_id, batch_id, windowed in {
        (o.run.owner_id, o.run.batch_id, "window" in (o.run.batch_params or {})) for o in stored
    }:
        after_final(owner_id, batch_id, windowed=windowed)


TRADE_COLUMNS = [field for field in Trade._meta.concrete_fields if not field.primary_key]


def _insert_trades(rows: list[Trade]) -> None:
    """The chunk's trade rows in one ``COPY`` on PostgreSQL (``bulk_create`` prepares each field of
    each row through Django's field methods, about half of a chunk's store CPU); elsewhere
    ``bulk_create``. The values are the engine's plain Python ones (floats, ints, strings, UTC
    datetimes, the run's UUID): psycopg writes floats as their ``repr``, which PostgreSQL reads
    back to the same bits."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        Trade.objects.bulk_create(rows, batch_size=2000)
        return
    if not rows:
        return
    columns = ", ".join(connection.ops.quote_name(field.column) for field in TRADE_COLUMNS)
    names = [field.attname for field in TRADE_COLUMNS]
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {connection.ops.quote_name(Trade._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([getattr(row, name) for name in names])
