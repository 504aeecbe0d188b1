"""Writes: submit, dispatch, execute, cancel, reap and re-run backtests.

This module is the only place that changes a run's status. Every change goes through
:func:`transition`, a conditional update that knows the legal moves:

    QUEUED  → RUNNING | CANCELLED | FAILED
    RUNNING → SUCCEEDED | FAILED | CANCELLED | QUEUED (requeued by the reaper)

A worker claims a run by a conditional update and gets a lease token; only the holder of the
current lease may write progress or results, so a redelivered task, a second worker or a
zombie never stores a run twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, InterfaceError, OperationalError, close_old_connections, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from backtests import selectors
from backtests.engine import ENGINE_VERSION, EngineError, data_checksum, run_backtest
from backtests.engine import benchmark as bm
from backtests.engine import montecarlo as mc
from backtests.engine.downsample import downsample_equity, equity_columns
from backtests.engine.jsonable import round_list
from backtests.engine.metrics import Annualisation, calendar_annualisation
from backtests.engine.run import ProgressFn
from backtests.models import FINAL_STATUSES, Artifact, BacktestRun, RunStatus, Strategy, Trade
from backtests.portfolios import portfolio_execute
from backtests.strategies.compile import CompiledRequest, request_compile
from backtests.strategies.parse import build_strategy
from backtests.strategies.portfolio import is_portfolio
from marketdata.progress import reporting as data_progress
from marketdata.selectors import instrument_resolve
from marketdata.services import market_data_load, market_data_load_closes, market_data_load_finer
from marketdata.timeframes import timeframe_seconds
from marketdata.validation import market_calendar, session_seconds
from plans.models import Plan
from plans.selectors import plan_for_user
from plans.services import day_start, plan_check_run, quota_check_runs
from qm_platform import artifacts, observability
from qm_platform.db import relaxed_commit
from qm_platform.errors import CodedError
from reports.analysis import equity_series, initial_capital, report_extras

logger = logging.getLogger("qm.backtests")

# Progress bands per stage: (start %, end %).
STAGES = {
    "loading_data": (0, 10),
    "computing_modules": (10, 40),
    "simulating": (40, 80),
    "analysing": (80, 85),
    "rendering_report": (85, 99),
}
# The engine's progress stages as steps of a run's clock (RunClock)
CLOCK_STEPS = {"loading_data": "data", "computing_modules": "modules", "simulating": "simulate", "analysing": "metrics"}
HTML_READY_PROGRESS = 92  # rendering_report: the report's HTML is built, the PDF is next
EQUITY_POINTS = 600
EQUITY_DETAIL_POINTS = 5_000  # GET /equity: every bar up to this, then thinned with extremes kept
ALLOWED_TRANSITIONS = {
    RunStatus.QUEUED: {RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED},
    RunStatus.RUNNING: {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.QUEUED},
}
# Keys of the request that do not change the result.
NON_RESULT_KEYS = ("strategyName", "cache", "quickTest")
T = TypeVar("T")
RUN_TASK = "backtests.tasks.run_backtest_task"  # by name: tasks.py imports this module
RUN_CHUNK_TASK = "backtests.tasks.run_backtest_chunk_task"
BATCH_RUN_FINISHED_TASK = "batches.tasks.batch_run_finished"  # by name: batches sits above backtests


class RunCancelled(Exception):
    """Raised inside a run when it is no longer ours to work on (cancelled, or lease lost)."""


class RunBusy(Exception):
    """The run is RUNNING under a live lease elsewhere; try again after the heartbeat timeout."""


class IllegalTransition(Exception):
    """Code asked for a status change the state machine forbids: a bug, never user input."""


class RunClock:
    """Where one run's time goes, in milliseconds by step, stored with the run (``timings``) so a
    benchmark can add up the steps of many runs. ``step(name)`` times a block; the engine's own
    steps (modules, simulate, metrics) are read from its progress calls by :class:`ProgressWriter`,
    which keeps its database time out of them (that is ``progress``)."""

    def __init__(self, initial: dict | None = None):
        self.ms: dict[str, float] = dict(initial or {})
        self.started = time.perf_counter()

    @contextmanager
    def step(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - started) * 1000)

    def add(self, name: str, ms: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + ms

    def as_dict(self) -> dict[str, float]:
        """The steps, rounded to 0.01 ms, and ``worker`` (claim to now)."""
        out = {name: round(ms, 2) for name, ms in self.ms.items()}
        out["worker"] = round((time.perf_counter() - self.started) * 1000 + self.ms.get("worker", 0.0), 2)
        return out


# ---- state machine ------------------------------------------------------------------------


def transition(
    run_id,
    *,
    to: str,
    frm: tuple[str, ...],
    lease: str | None = None,
    owner_batch: tuple | None = None,
    notify: bool = True,
    **fields,
) -> bool:
    """Move a run from one of ``frm`` to ``to`` if it is still there (and, with ``lease``,
    still held by that lease). Returns whether it moved. Raises IllegalTransition for a move
    the state machine forbids. ``owner_batch``: the run's (owner id, batch id, batch params) when
    the caller has them (a final move reads them otherwise). ``notify=False``: the caller ends
    many runs at once and calls :func:`after_final` once for them when they commit."""
    for source in frm:
        if to not in ALLOWED_TRANSITIONS.get(source, set()):
            logger.error("illegal transition %s → %s for run %s", source, to, run_id)
            raise IllegalTransition(f"{source} → {to} is not allowed")
    query = BacktestRun.objects.filter(id=run_id, status__in=frm)
    if lease is not None:
        query = query.filter(lease_token=lease)
    moved = bool(_db_retry(lambda: query.update(status=to, **fields)))
    if moved and to in FINAL_STATUSES:
        observability.RUNS_FINISHED.labels(status=to).inc()
        if not notify:
            return moved
        owner_id, batch_id, batch_params = (
            owner_batch
            or BacktestRun.objects.filter(id=run_id).values_list("owner_id", "batch_id", "batch_params").first()
        )
        windowed = "window" in (batch_params or {})
        transaction.on_commit(lambda: after_final(owner_id, batch_id, windowed=windowed))
    return moved


def after_final(owner_id, batch_id, *, windowed: bool = True) -> None:
    """A run ended: its owner's next waiting run takes its slot, and its batch (if any) moves on
    (by task name: batches sits above this app). A grid batch can only move on when its last run
    ends, so while others of it are still QUEUED or RUNNING no message is sent: each run looks
    after its own commit, so the last one to end sees every other final and sends it (and the
    beat sweep is the backstop). A walk-forward run (``windowed``) always sends: the end of a
    window's in-sample runs creates its out-of-sample run."""
    backtest_dispatch_waiting(owner_id=owner_id)
    if batch_id is not None:
        if (
            not windowed
            and BacktestRun.objects.filter(batch_id=batch_id, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).exists()
        ):
            return
        try:
            current_app.send_task(BATCH_RUN_FINISHED_TASK, args=[str(batch_id)], ignore_result=True)
        except Exception:  # the broker is down: the batch sweep advances it
            logger.warning(
                "broker unavailable: the batch sweep will advance the batch", extra={"run_id": str(batch_id)}
            )


def _db_retry(fn: Callable[[], T], attempts: int = 4) -> T:
    """Run a database operation, reconnecting and retrying on a dropped connection (a
    database restart or failover), with a short backoff. Other errors propagate."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (OperationalError, InterfaceError) as exc:
            if attempt == attempts or transaction.get_connection().in_atomic_block:
                raise
            logger.warning("database hiccup (%s), retrying %d/%d", exc, attempt, attempts - 1)
            close_old_connections()
            transaction.get_connection().close()
            time.sleep(0.2 * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def _relaxed(fn: Callable[[], T]) -> T:
    """``fn``'s writes committed without waiting for the disk (``qm_platform.db.relaxed_commit``):
    only bookkeeping a database crash may lose without harm (claim, progress and heartbeat,
    timings, dispatch time), never results or a final status."""
    with relaxed_commit():
        return fn()


# ---- submit & dispatch --------------------------------------------------------------------


def request_fingerprint(body: dict, window, instrument=None) -> str:
    """sha256 of the canonical request (keys sorted, non-result keys dropped), the resolved
    data window, the instrument's terms and the engine version. Equal fingerprints on equal data
    give equal results."""
    canonical = {k: v for k, v in body.items() if k not in NON_RESULT_KEYS}
    canonical["_window"] = [
        window.symbol,
        window.timeframe,
        window.start.isoformat(),
        window.end.isoformat(),
        window.source,
        window.dataset_id,
    ]
    canonical["_engine"] = ENGINE_VERSION
    if instrument is not None:  # an admin edit of the instrument is a different run
        canonical["_instrument"] = instrument.to_dict()
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def backtest_submit(
    *,
    user,
    body: dict | None = None,
    compiled: CompiledRequest | None = None,
    strategy: Strategy | None = None,
    strategy_version: int | None = None,
    idempotency_key: str = "",
    dispatch: bool = True,
    plan: Plan | None = None,
) -> BacktestRun:
    """Compile the request (``body``, any accepted form; or an already ``compiled`` one) and
    save the run.

    - The same ``idempotency_key`` from the same user returns the original run.
    - A request whose fingerprint matches a SUCCEEDED run on unchanged data is answered from
      it at once: a new run, SUCCEEDED, ``cached=True``, sharing trades and report.
    - Otherwise the run is saved QUEUED and dispatched when the transaction commits; if the
      broker is down it stays QUEUED and the dispatcher sends it later (transactional outbox).
    - ``dispatch=False`` saves a QUEUED run without sending it: the caller (a batch) sends it.
    - ``plan``: the user's plan when the caller has just read it (the API's submit throttle).
    Raises CodedError (400) for anything invalid: no run is created, nothing enqueued.
    """
    started = time.perf_counter()
    if idempotency_key:
        existing = BacktestRun.objects.filter(owner=user, idempotency_key=idempotency_key).first()
        if existing:
            return existing
    if compiled is None:
        compiled = request_compile(body, user=user)
    body, window = compiled.body, compiled.window
    plan = plan or plan_for_user(user=user)
    _plan_check(plan, compiled)
    if dispatch:  # a batch checks its runs together, before it creates any
        quota_check_runs(plan=plan, runs_today=backtest_count_today(user=user))
    fingerprint = request_fingerprint(body, window, compiled.spec.instrument)
    source_run = None if body.get("cache") is False else _cached_result(fingerprint, window, owner=user)
    fields = _run_fields(
        user=user,
        compiled=compiled,
        fingerprint=fingerprint,
        strategy=strategy,
        strategy_version=strategy_version,
        idempotency_key=idempotency_key,
    )
    if source_run is not None:
        fields.update(_cached_fields(source_run, compiled))
    fields["timings"] = {"submit": round((time.perf_counter() - started) * 1000, 2)}  # the API's part (RunClock)
    try:
        # a savepoint only where a concurrent duplicate can fail the insert (the same idempotency
        # key): then the caller's transaction, if any, survives it
        with transaction.atomic(savepoint=bool(idempotency_key)):
            if source_run is not None:  # answered now: its own run, trades and PDF
                run = _create_cached_run(fields, source_run, pdf=plan.pdf_reports)
            else:
                run = BacktestRun.objects.create(**fields)
                if dispatch:  # the owner and plan are known here: the dispatch need not read them again
                    transaction.on_commit(lambda: backtest_dispatch(run_id=run.id, owner_id=user.pk, plan=plan))
    except IntegrityError:
        if idempotency_key:  # a concurrent request with the same key won the race
            return BacktestRun.objects.get(owner=user, idempotency_key=idempotency_key)
        raise
    observability.CACHE_LOOKUPS.labels(result="hit" if source_run else "miss").inc()
    logger.info("run submitted", extra={"run_id": str(run.id), "cached": run.cached, "user": user.pk})
    return run


def _plan_check(plan, compiled: CompiledRequest) -> None:
    """What the owner's plan allows one run: its bars and data source, and its benchmark's source."""
    plan_check_run(plan=plan, bars=compiled.window.bars, source=compiled.window.source)
    wanted = compiled.body.get("benchmark")
    if wanted:
        source = "dataset" if isinstance(wanted["dataSource"], int) else wanted["dataSource"]
        plan_check_run(plan=plan, bars=compiled.window.bars, source=source)


def _run_fields(
    *,
    user,
    compiled: CompiledRequest,
    fingerprint: str,
    strategy=None,
    strategy_version: int | None = None,
    idempotency_key: str = "",
) -> dict:
    """The model fields of a new QUEUED run of ``compiled``: the saved strategy and version are
    the ones the request named, else those given (a re-run, a batch of a saved strategy)."""
    body, window = compiled.body, compiled.window
    ref = compiled.strategy_ref
    return dict(
        owner=user,
        strategy_id=ref.strategy_id if ref else getattr(strategy, "pk", None),
        strategy_version=ref.version if ref else strategy_version,
        request=body,
        market=window.symbol,
        timeframe=window.timeframe,
        direction=body["marketContext"].get("direction", "Long"),
        data_start=window.start,
        data_end=window.end,
        warmup_start=window.warmup_start,
        data_source=window.source if window.dataset_id is None else f"dataset:{window.dataset_id}",
        engine_version=ENGINE_VERSION,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        warnings=list(compiled.warnings),
    )


# A cached run's results, copied from its source by the database (never through Python: the
# curves and report data are about 300 KB of JSON a run); its warnings are merged in Python.
CACHED_COPY_FIELDS = (
    "metrics",
    "trade_count",
    "equity_curve",
    "data_checksum",
    "bars",
    "data_quality",
    "report_data",
    "equity_detail",
    "montecarlo",
    "data_start",
    "data_end",
)
# What the cache reads of a candidate source run to decide and to merge warnings
CACHE_CANDIDATE_FIELDS = ("id", "request_fingerprint", "data_checksum", "data_source", "warnings", "finished_at")


def _cached_fields(source_run: BacktestRun, compiled: CompiledRequest) -> dict:
    """The fields of a run answered from ``source_run``, SUCCEEDED at once, but its copied
    results (``_copy_cached_results``): its warnings are this request's and the source's (data)
    ones."""
    now = timezone.now()
    return dict(
        status=RunStatus.SUCCEEDED,
        progress=100,
        stage="done",
        cached=True,
        cache_source=source_run,
        started_at=now,
        finished_at=now,
        warnings=_merged(list(compiled.warnings), source_run.warnings or []),
    )


def _merged(first: list[str], then: list[str]) -> list[str]:
    return first + [w for w in then if w not in first]


def backtest_submit_many(
    *,
    user,
    items: list[tuple[CompiledRequest, dict]],
    batch_id,
    strategy: Strategy | None = None,
    strategy_version: int | None = None,
) -> list[BacktestRun]:
    """Save many compiled runs of one batch at once, QUEUED and not sent (the caller hands them
    to :func:`backtest_dispatch_waiting`): ``items`` are (compiled request, ``batch_params``).

    The same checks as :func:`backtest_submit` with ``dispatch=False``: the owner's plan per run
    (bars, data source), the fingerprint, and the owner's own result cache (a hit is saved
    SUCCEEDED with copies of its trades and its own PDF, one by one: hits are the rare case).
    The misses are written with one ``bulk_create``; the caller holds the transaction.
    Raises CodedError before anything is written if any run breaks the plan."""
    plan = plan_for_user(user=user)
    keyed = []
    for compiled, batch_params in items:
        _plan_check(plan, compiled)
        keyed.append(
            (compiled, batch_params, request_fingerprint(compiled.body, compiled.window, compiled.spec.instrument))
        )
    candidates: dict[str, BacktestRun] = {}  # the newest original run per fingerprint
    for candidate in (
        BacktestRun.objects.filter(
            owner=user,
            request_fingerprint__in=[fp for c, _, fp in keyed if c.body.get("cache") is not False],
            status=RunStatus.SUCCEEDED,
            cached=False,
        )
        .order_by("-finished_at")
        .only(*CACHE_CANDIDATE_FIELDS)
    ):
        candidates.setdefault(candidate.request_fingerprint, candidate)
    checksums: dict = {}  # the stored data's checksum per window, read once for the batch
    runs, misses, hits = [], [], []
    for compiled, batch_params, fingerprint in keyed:
        fields = _run_fields(
            user=user, compiled=compiled, fingerprint=fingerprint, strategy=strategy, strategy_version=strategy_version
        )
        candidate = candidates.get(fingerprint)
        source_run = _cache_valid(candidate, compiled.window, checksums) if candidate is not None else None
        if source_run is not None:
            fields.update(_cached_fields(source_run, compiled))
        run = BacktestRun(batch_id=batch_id, batch_params=batch_params, **fields)
        (misses if source_run is None else hits).append(run)
        runs.append(run)
    BacktestRun.objects.bulk_create(hits + misses, batch_size=1000)
    _copy_cached_results(hits, pdf=plan.pdf_reports)
    observability.CACHE_LOOKUPS.labels(result="miss").inc(len(misses))
    observability.CACHE_LOOKUPS.labels(result="hit").inc(len(hits))
    logger.info("%d batch runs submitted (%d cached)", len(runs), len(hits), extra={"user": user.pk})
    return runs


def _create_cached_run(fields: dict, source_run: BacktestRun, *, pdf: bool) -> BacktestRun:
    """Save a run answered from ``source_run``: it started and finished when it was created, owns
    copies of the results and trades and gets its own PDF (its own name and run id) when the plan
    has PDFs."""
    with transaction.atomic():
        run = BacktestRun.objects.create(**fields)
        _copy_cached_results([run], pdf=pdf)
    run.refresh_from_db(fields=[*CACHED_COPY_FIELDS, "started_at", "finished_at"])
    return run


def _copy_cached_results(runs: list[BacktestRun], *, pdf: bool) -> None:
    """Give saved cached ``runs`` their ``cache_source``'s results, copied by the database in one
    update, and copies of its trades (one read, one bulk insert): a deleted source never empties
    them. Each starts and finishes when it was created, and gets its own PDF when ``pdf``. The
    caller holds the transaction; the objects' copied fields are not reloaded."""
    if not runs:
        return
    source = BacktestRun.objects.filter(id=OuterRef("cache_source_id"))
    BacktestRun.objects.filter(id__in=[run.id for run in runs]).update(
        started_at=F("created_at"),
        finished_at=F("created_at"),
        **{name: Subquery(source.values(name)[:1]) for name in CACHED_COPY_FIELDS},
    )
    names = [f.name for f in Trade._meta.concrete_fields if f.name not in ("id", "run")]
    trades: dict = {}
    rows = Trade.objects.filter(run_id__in={run.cache_source_id for run in runs}).values("run_id", *names)
    for row in rows.iterator():
        trades.setdefault(row.pop("run_id"), []).append(row)
    Trade.objects.bulk_create(
        (Trade(run_id=run.id, **row) for run in runs for row in trades.get(run.cache_source_id, ())), batch_size=2000
    )
    if settings.QM_RENDER_PDF and pdf:
        for run in runs:
            transaction.on_commit(lambda run_id=run.id: report_dispatch(run_id=run_id))


def _cached_result(fingerprint: str, window, *, owner) -> BacktestRun | None:
    """The owner's newest original SUCCEEDED run with this fingerprint whose data is unchanged
    (only the fields the cache reads: ``CACHE_CANDIDATE_FIELDS``).

    The cache reuses computation, never identity, and only within one account: a hit from
    another user's run would tell the caller that someone ran this strategy (and when), so
    each user's cache holds only their own runs."""
    if getattr(window, "markets", ()):
        return None  # a portfolio's data is many series: it always runs
    candidate = (
        BacktestRun.objects.filter(
            owner=owner, request_fingerprint=fingerprint, status=RunStatus.SUCCEEDED, cached=False
        )
        .order_by("-finished_at")
        .only(*CACHE_CANDIDATE_FIELDS)
        .first()
    )
    return _cache_valid(candidate, window, {}) if candidate is not None else None


def _cache_valid(candidate: BacktestRun, window, checksums: dict) -> BacktestRun | None:
    """``candidate`` if the stored data of ``window`` is still what it ran on. ``checksums``: the
    stored frames' checksums by window, kept by a caller that checks many runs."""
    if getattr(window, "markets", ()) or not candidate.data_checksum:
        return None  # a portfolio's data is many series: it always runs
    key = (window.symbol, window.timeframe, window.warmup_start or window.start, window.end, candidate.data_source)
    if key not in checksums:
        from marketdata.services import market_data_cached_frame

        frame = market_data_cached_frame(
            symbol=window.symbol,
            timeframe=window.timeframe,
            start=window.warmup_start or window.start,
            end=window.end,
            source=candidate.data_source,
        )
        checksums[key] = None if frame is None else data_checksum(frame)
    return candidate if checksums[key] == candidate.data_checksum else None


def backtest_count_today(*, user) -> int:
    """Runs the user created since midnight UTC (the plan's daily quota counts these)."""
    return BacktestRun.objects.filter(owner=user, created_at__gte=day_start()).count()


def _in_flight(owner_id) -> int:
    """The owner's runs in the broker or running: what the plan's concurrency limit counts."""
    return BacktestRun.objects.filter(
        Q(status=RunStatus.RUNNING) | Q(status=RunStatus.QUEUED, dispatched_at__isnull=False), owner_id=owner_id
    ).count()


def backtest_has_room(*, owner_id) -> bool:
    """Whether the owner may have one more run in flight under their plan."""
    owner = get_user_model()(pk=owner_id)  # plan_for_user reads only the primary key
    return _in_flight(owner_id) < plan_for_user(user=owner).concurrent_runs


def backtest_dispatch(*, run_id, owner_id=None, plan=None) -> bool:
    """Send the run's task to the broker, unless its owner already has their plan's number of
    runs in flight: then it waits in the outbox (QUEUED, not dispatched) and is sent when one of
    theirs finishes. So one user's thousand runs never stand in the broker in front of another
    user's run; the plan's Celery priority orders the runs that are in the broker.

    Returns whether it was sent. A broker outage leaves the run QUEUED for the sweep. Sent by
    name: the task module imports this one, never the other way round.

    ``owner_id`` and ``plan``: given by the caller that has just saved the run, so they are not
    read again (a run cancelled in between is still sent: its claim, conditional on QUEUED,
    ignores it)."""
    if owner_id is None or plan is None:
        run = BacktestRun.objects.filter(id=run_id, status=RunStatus.QUEUED).only("owner_id").first()
        if run is None:
            return False
        owner_id = run.owner_id
        plan = plan_for_user(user=get_user_model()(pk=owner_id))  # plan_for_user reads only the primary key
    if _in_flight(owner_id) >= plan.concurrent_runs:
        return False
    return _send_run_task(run_id, priority=plan.priority)


def _send_run_task(run_id, *, priority: int) -> bool:
    """Hand the run's task to the broker and record when; False (run left as it is) when the
    broker is down."""
    return _send_runs([run_id], priority=priority)


def _send_runs(run_ids: list, *, priority: int) -> bool:
    """One run's task, or for several runs of one batch one chunk task (``backtests.chunks``:
    their data loaded once, one claim and one commit), sent to the broker, and when recorded on
    the runs; False (runs left as they are) when the broker is down."""
    ids = [str(run_id) for run_id in run_ids]
    try:
        result = current_app.send_task(
            RUN_TASK if len(ids) == 1 else RUN_CHUNK_TASK,
            priority=priority,
            args=ids if len(ids) == 1 else [ids],
            retry=True,
            ignore_result=True,  # no result is read: no subscription to a result store
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        )
    except Exception:  # kombu raises OperationalError and friends when the broker is down
        logger.warning("broker unavailable, run left QUEUED for the dispatcher", extra={"run_id": ids[0]})
        return False
    _relaxed(
        lambda: BacktestRun.objects.filter(id__in=ids, status=RunStatus.QUEUED).update(
            celery_task_id=result.id, dispatched_at=timezone.now()
        )
    )
    return True


def _chunks(waiting) -> Iterator[list]:
    """The owner's waiting runs, in order, as the tasks to send: consecutive runs of one batch
    together (at most ``QM_BATCH_CHUNK_RUNS`` runs and ``QM_BATCH_CHUNK_BARS`` bars, counted
    over their calendar spans, so a chunk of long runs stays one run's time), any other run
    alone. ``waiting``: (id, batch id, timeframe, warm-up start, start, end) rows."""
    chunk: list = []
    batch, bars = None, 0.0
    for run_id, batch_id, timeframe, warmup_start, start, end in waiting:
        span = ((end - (warmup_start or start)).total_seconds() / timeframe_seconds(timeframe)) if end else 0.0
        if chunk and (
            batch_id is None
            or batch_id != batch
            or len(chunk) >= settings.QM_BATCH_CHUNK_RUNS
            or bars + span > settings.QM_BATCH_CHUNK_BARS
        ):
            yield chunk
            chunk, bars = [], 0.0
        chunk.append(run_id)
        batch, bars = batch_id, bars + span
    if chunk:
        yield chunk


def backtest_dispatch_pending(*, older_than_seconds: float = 5) -> int:
    """The outbox sweep: dispatch QUEUED runs that never reached the broker."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    waiting = BacktestRun.objects.filter(status=RunStatus.QUEUED, dispatched_at__isnull=True, created_at__lte=cutoff)
    sent = 0
    for owner_id in waiting.values_list("owner_id", flat=True).distinct():
        sent += backtest_dispatch_waiting(owner_id=owner_id, cutoff=cutoff)
    return sent


def backtest_redispatch_unclaimed(*, older_than_seconds: float | None = None, limit: int = 1000) -> int:
    """Send again the runs that were handed to the broker more than ``older_than_seconds``
    (``QM_REDISPATCH_SECONDS``) ago and that no worker has claimed: their message may be lost (a
    broker restarted without persistence, a failover, a worker on the wrong database consuming it).
    A duplicate is harmless: the claim is conditional, so the second delivery finds the run taken
    and returns. Each run is sent at most once per interval (its ``dispatched_at`` moves on).
    Returns how many were sent."""
    seconds = settings.QM_REDISPATCH_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timezone.timedelta(seconds=seconds)
    unclaimed = BacktestRun.objects.filter(status=RunStatus.QUEUED, dispatched_at__lt=cutoff).order_by("dispatched_at")
    sent = 0
    for run in unclaimed.select_related("owner").only("id", "owner")[:limit]:
        if not _send_run_task(run.id, priority=plan_for_user(user=run.owner).priority):
            break  # the broker is down: the next sweep tries again
        observability.RUNS_REDISPATCHED.inc()
        logger.warning(
            "re-sent a run that no worker claimed within %ss of dispatch", seconds, extra={"run_id": str(run.id)}
        )
        sent += 1
    return sent


def backtest_dispatch_waiting(*, owner_id, cutoff=None) -> int:
    """Send the owner's oldest waiting runs while their plan has room (called when one of their
    runs finishes, and by the outbox sweep). Stops at the first refusal: no room, or the broker
    is down (the next sweep tries again)."""
    waiting = BacktestRun.objects.filter(owner_id=owner_id, status=RunStatus.QUEUED, dispatched_at__isnull=True)
    if cutoff is not None:
        waiting = waiting.filter(created_at__lte=cutoff)
    waiting = waiting.order_by("created_at").values_list(
        "id", "batch_id", "timeframe", "warmup_start", "data_start", "data_end"
    )
    # the first few waiting runs (a chunk's worth): usually none waits, and then the plan and the
    # room (two more queries, on every run's end) are not needed; a run's end frees one slot, so
    # these are usually all that is sent, and only a larger room reads as many as fit (a user's
    # 1,000 waiting runs were read whole at each run's end)
    first = list(waiting[: settings.QM_BATCH_CHUNK_RUNS])
    if not first:
        return 0
    plan = plan_for_user(user=get_user_model()(pk=owner_id))  # plan_for_user reads only the primary key
    room = min(1000, plan.concurrent_runs - _in_flight(owner_id))
    if room <= 0:
        return 0
    waiting_rows = first[:room] if room <= len(first) or len(first) < settings.QM_BATCH_CHUNK_RUNS else waiting[:room]
    sent = 0
    # the room is counted once, not again before each run (two queries per run sent, on every run's end)
    for run_ids in _chunks(waiting_rows):
        if not _send_runs(run_ids, priority=plan.priority):
            break
        sent += len(run_ids)
    return sent


def backtest_rerun(*, run: BacktestRun, user) -> BacktestRun:
    body = dict(run.request)
    body["cache"] = False
    return backtest_submit(user=user, body=body, strategy=run.strategy, strategy_version=run.strategy_version)


# ---- cancel & reap ------------------------------------------------------------------------


def backtest_cancel(*, run: BacktestRun) -> BacktestRun:
    """Cancel a QUEUED or RUNNING run. A running worker stops at its next progress write."""
    moved = transition(
        run.id,
        to=RunStatus.CANCELLED,
        frm=(RunStatus.QUEUED, RunStatus.RUNNING),
        finished_at=timezone.now(),
        stage="cancelled",
        error_code="CANCELLED",
        error_message="Cancelled by the user.",
    )
    run.refresh_from_db()
    if not moved:
        raise CodedError(
            "INVALID_STATE",
            f"the run is {run.status}; only QUEUED or RUNNING runs can be cancelled",
            details={"status": run.status},
        )
    logger.info("run cancelled", extra={"run_id": str(run.id)})
    return run


def backtest_cancel_batch_runs(*, batch_id) -> int:
    """Cancel every QUEUED or RUNNING run of a batch in one update (a running worker stops at
    its next progress write, as for a single cancel); returns how many. The owner's freed slots
    go to their next waiting runs."""
    now = timezone.now()
    runs = BacktestRun.objects.filter(batch_id=batch_id, status__in=(RunStatus.QUEUED, RunStatus.RUNNING))
    owner_id = runs.values_list("owner_id", flat=True).first()
    cancelled = _db_retry(
        lambda: runs.update(
            status=RunStatus.CANCELLED,
            finished_at=now,
            stage="cancelled",
            error_code="CANCELLED",
            error_message="Cancelled with its batch.",
        )
    )
    if cancelled:
        observability.RUNS_FINISHED.labels(status=RunStatus.CANCELLED).inc(cancelled)
        transaction.on_commit(lambda: backtest_dispatch_waiting(owner_id=owner_id))
    return cancelled


def backtest_reap_stale(*, now=None) -> dict[str, int]:
    """Requeue RUNNING runs whose worker stopped sending heartbeats (at most
    QM_MAX_ATTEMPTS attempts, then FAILED with WORKER_LOST). A stale report stage gets its
    report task sent again."""
    now = now or timezone.now()
    cutoff = now - timezone.timedelta(seconds=settings.QM_HEARTBEAT_TIMEOUT)
    counts = {"requeued": 0, "failed": 0, "reports": 0}
    stale = BacktestRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff)
    for run in stale.only("id", "attempts", "stage", "lease_token"):
        if run.stage == "rendering_report":
            if BacktestRun.objects.filter(id=run.id, lease_token=run.lease_token).update(heartbeat_at=now):
                report_dispatch(run_id=run.id)
                counts["reports"] += 1
        elif run.attempts >= settings.QM_MAX_ATTEMPTS:
            if transition(
                run.id,
                to=RunStatus.FAILED,
                frm=(RunStatus.RUNNING,),
                lease=run.lease_token,
                error_code="WORKER_LOST",
                finished_at=now,
                stage="failed",
                error_message=f"The worker running this backtest stopped responding {run.attempts} times; giving up.",
            ):
                counts["failed"] += 1
        elif transition(
            run.id,
            to=RunStatus.QUEUED,
            frm=(RunStatus.RUNNING,),
            lease=run.lease_token,
            stage="queued",
            progress=0,
            lease_token="",
            dispatched_at=None,
        ):
            logger.warning("requeued a run whose worker went silent", extra={"run_id": str(run.id)})
            backtest_dispatch(run_id=run.id)
            counts["requeued"] += 1
    return counts


# ---- execute ------------------------------------------------------------------------------


@dataclass
class ProgressWriter:
    """Throttled progress and heartbeat: a single-row update at most once per
    ``min_interval`` (a new stage may write after a quarter of it), so a thousand concurrent
    runs cost at most a few thousand small updates a second, and a fast run a handful.
    Each write doubles as the cancellation check: if the run left RUNNING or our lease was
    taken over, stop."""

    run_id: object
    lease: str
    min_interval: float
    check_interval: float = 0.25
    last_pct: int = -1
    last_stage: str = ""
    last_write: float = 0.0
    last_check: float = 0.0
    clock: RunClock | None = None
    step: str | None = None  # the clock's step the run is in, since ``step_since`` (perf_counter)
    step_since: float = 0.0
    step_db_ms: float = 0.0  # this writer's database time since ``step_since``

    def mark(self, stage: str | None) -> None:
        """The run entered ``stage`` (None: left the last one): the clock gets the time of the
        step it leaves, less this writer's database time in it (counted as ``progress``)."""
        if self.clock is None:
            return
        now = time.perf_counter()
        if self.step is not None:
            self.clock.add(self.step, (now - self.step_since) * 1000 - self.step_db_ms)
        self.step = CLOCK_STEPS.get(stage.split(":", 1)[0]) if stage else None
        self.step_since, self.step_db_ms = now, 0.0

    def _timed(self, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            if self.clock is not None:
                ms = (time.perf_counter() - started) * 1000
                self.clock.add("progress", ms)
                self.step_db_ms += ms

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.clock is not None and CLOCK_STEPS.get(stage.split(":", 1)[0]) != self.step:
            self.mark(stage)
        low, high = STAGES[stage.split(":", 1)[0]]  # "computing_modules:EURUSD": a portfolio's market
        pct = int(low + (high - low) * (done / total if total else 1))
        now = time.monotonic()
        elapsed = now - self.last_write
        if elapsed < self.min_interval and (stage == self.last_stage or elapsed < self.min_interval / 4):
            if now - max(self.last_check, self.last_write) >= self.check_interval:
                self.check()
            return
        self.write(stage, pct)

    def check(self) -> None:
        """Stop (RunCancelled) if the run left RUNNING or our lease was taken over."""
        still_ours = self._timed(
            lambda: _db_retry(
                lambda: BacktestRun.objects.filter(
                    id=self.run_id, status=RunStatus.RUNNING, lease_token=self.lease
                ).exists()
            )
        )
        self.last_check = time.monotonic()
        if not still_ours:
            raise RunCancelled()

    def write(self, stage: str, pct: int) -> None:
        pct = max(pct, self.last_pct)
        stage = stage[:32]  # the column's width; a long symbol is cut
        changed = self._timed(
            lambda: _db_retry(
                lambda: _relaxed(
                    lambda: BacktestRun.objects.filter(
                        id=self.run_id, status=RunStatus.RUNNING, lease_token=self.lease
                    ).update(stage=stage, progress=pct, heartbeat_at=timezone.now())
                )
            )
        )
        if not changed:
            raise RunCancelled()
        self.last_pct, self.last_stage, self.last_write = pct, stage, time.monotonic()


def _claim(run_id, task_id: str) -> str | None:
    """Take the run: QUEUED, or RUNNING with a dead heartbeat (its worker died and the broker
    redelivered the task). Returns the new lease, or None if the run is not ours to take."""
    lease, claimed = claim_runs([run_id], task_id)
    return lease if claimed else None


def claim_runs(run_ids: list, task_id: str) -> tuple[str, int]:
    """Take those of ``run_ids`` that are QUEUED, or RUNNING with a dead heartbeat, with one
    conditional update under one new lease (a chunk of a batch's runs takes all of its runs so).
    Returns the lease and how many runs it holds."""
    now = timezone.now()
    stale = now - timezone.timedelta(seconds=settings.QM_HEARTBEAT_TIMEOUT)
    lease = uuid.uuid4().hex
    claimable = Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING, heartbeat_at__lt=stale)
    claimed = _db_retry(
        lambda: _relaxed(
            lambda: BacktestRun.objects.filter(claimable, id__in=run_ids, attempts__lt=settings.QM_MAX_ATTEMPTS).update(
                status=RunStatus.RUNNING,
                started_at=now,
                heartbeat_at=now,
                stage="loading_data",
                progress=0,
                celery_task_id=task_id or "",
                lease_token=lease,
                attempts=F("attempts") + 1,
            )
        )
    )
    return lease, claimed


def backtest_execute(*, run_id, task_id: str = "") -> str:
    """Claim and run a backtest; returns the status it left the run in.

    Safe to deliver twice. Raises RunBusy when another live worker holds the run (the task
    retries later and then finds it finished, or its worker dead)."""
    clock = RunClock()
    with clock.step("claim"):
        lease = _claim(run_id, task_id)
    if lease is None:
        run = BacktestRun.objects.filter(id=run_id).only("status", "attempts", "heartbeat_at").first()
        if run is None:
            return "MISSING"
        if run.status == RunStatus.RUNNING:
            if run.attempts >= settings.QM_MAX_ATTEMPTS:
                backtest_reap_stale()
                return BacktestRun.objects.get(id=run_id).status
            raise RunBusy(str(run_id))
        logger.info("run not claimed (status %s)", run.status, extra={"run_id": str(run_id)})
        return run.status
    observability.set_run_id(str(run_id))
    try:
        return _execute_claimed(run_id, lease, clock)
    finally:
        observability.set_run_id("")


def _execute_claimed(run_id, lease: str, clock: RunClock | None = None) -> str:
    claimed_at = time.monotonic()
    clock = clock or RunClock()
    with clock.step("load_run"):
        run = BacktestRun.objects.get(id=run_id)
    if run.timings and "submit" in run.timings:  # the API's part, stored when the run was saved
        clock.ms["submit"] = run.timings["submit"]
    progress = ProgressWriter(
        run_id=run.id,
        lease=lease,
        min_interval=settings.QM_PROGRESS_MIN_INTERVAL,
        check_interval=settings.QM_CANCEL_CHECK_INTERVAL,
        clock=clock,
        # the claim wrote this a moment ago: the data's first progress call need not write it again
        last_pct=0,
        last_stage="loading_data",
        last_write=claimed_at,
    )
    stage_started = time.monotonic()
    try:
        with clock.step("prepare"):
            annualisation = market_annualisation(symbol=run.market, timeframe=run.timeframe)
        started = time.monotonic()
        if is_portfolio(run.request):
            spec = build_strategy(run.request)  # the stored body was compiled at submission
            progress.mark("loading_data")
            result, loaded = portfolio_execute(run=run, spec=spec, progress=progress, annualisation=annualisation)
            progress.mark(None)
        else:
            with clock.step("prepare"):
                instrument, _ = instrument_resolve(symbol=run.market)  # the compiler warned of a generic one
                spec = build_strategy(run.request, instrument=instrument)
            progress.mark("loading_data")
            with data_progress(lambda done, total: progress("loading_data", done, total)):
                loaded = market_data_load(run=run)
            observability.STAGE_SECONDS.labels(stage="loading_data").observe(time.monotonic() - stage_started)
            progress("loading_data", 1, 1)  # throttled as any other: a fast run's data needs no write of its own
            started = time.monotonic()
            result = run_engine(run, spec, loaded, progress, annualisation)
            progress.mark(None)
        observability.STAGE_SECONDS.labels(stage="engine").observe(time.monotonic() - started)
        render = _store_results(run, lease, result, loaded, clock)
    except RunCancelled:
        logger.info("run stopped: cancelled or taken over", extra={"run_id": str(run_id)})
        return BacktestRun.objects.get(id=run_id).status
    except (OperationalError, InterfaceError):
        raise  # the database is gone for good: let the task retry; the lease protects the run
    except Exception as exc:  # the run fails, the worker keeps serving
        return _fail(run_id, lease, *run_failure(exc, run_id))

    if not render:
        return RunStatus.SUCCEEDED  # stored and ended in one transaction
    if settings.QM_REPORT_IN_RUN_TASK:  # this worker prints now: no second trip through the broker
        return backtest_finish_report(run_id=run_id, clock=clock)
    transaction.on_commit(lambda: report_dispatch(run_id=run_id))
    return RunStatus.RUNNING


def run_failure(exc: Exception, run_id) -> tuple[str, str]:
    """The error code and message a run fails with when ``exc`` stopped it (an unexpected error
    is logged with its traceback)."""
    if _caused_by(exc, SoftTimeLimitExceeded):  # also when a layer below wrapped it
        return "TIMEOUT", f"The run exceeded the time limit of {settings.QM_TASK_SOFT_TIME_LIMIT} s and was stopped."
    if isinstance(exc, (CodedError, EngineError)):
        return exc.code, exc.message
    logger.exception("run failed in the engine", extra={"run_id": str(run_id)})
    return "ENGINE_ERROR", f"The backtest failed: {type(exc).__name__}: {exc}"


def run_engine(
    run: BacktestRun, spec, loaded, progress: ProgressFn, annualisation: Annualisation, operands: dict | None = None
):
    """The engine on one market's ``loaded`` data of ``run`` (with the finer bars of the bar
    magnifier, if its exit asks for them: without them the run is warned and falls back).
    ``operands``: module outputs shared by runs on the same data (``engine.run_backtest``)."""
    finer = None
    if spec.exit.intrabar:
        finer, note = market_data_load_finer(run=run, timeframe=spec.exit.intrabar)
        if note:
            loaded.warnings.append(note)
    return run_backtest(
        loaded.frame,
        spec,
        on_progress=progress,
        trade_from=pd.Timestamp(run.data_start) if run.warmup_start else None,
        annualisation=annualisation,
        intrabar=finer,
        operands=operands,
    )


def _renders_pdf(run: BacktestRun) -> bool:
    """PDFs are on for the platform (QM_RENDER_PDF) and included in the owner's plan."""
    return settings.QM_RENDER_PDF and plan_for_user(user=run.owner).pdf_reports


def market_annualisation(*, symbol: str, timeframe: str) -> Annualisation:
    """Bars and trading days a year for ``symbol`` at ``timeframe``, from the market's trading
    calendar as the data checks know it (``marketdata.validation.market_calendar``): 24/7 crypto,
    24/5 FX and metals, exchange sessions for indices. The engine is told, not left to guess
    from the tested span (a one-week FX window would otherwise annualise 8,766 hours a year)."""
    return calendar_annualisation(market_calendar(symbol), timeframe_seconds(timeframe), session_seconds(symbol))


def _caused_by(exc: BaseException, kind: type) -> bool:
    """Whether ``exc`` or anything in its cause/context chain is a ``kind``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _succeed(run_id, lease: str, clock: RunClock | None = None) -> str:
    run = BacktestRun.objects.only("started_at").get(id=run_id)
    now = timezone.now()
    timed = {"timings": clock.as_dict()} if clock is not None else {}
    if transition(
        run_id,
        to=RunStatus.SUCCEEDED,
        frm=(RunStatus.RUNNING,),
        lease=lease,
        progress=100,
        stage="done",
        finished_at=now,
        **timed,
    ):
        if run.started_at:
            observability.STAGE_SECONDS.labels(stage="total").observe((now - run.started_at).total_seconds())
        return RunStatus.SUCCEEDED
    return BacktestRun.objects.get(id=run_id).status


def _fail(run_id, lease: str, code: str, message: str) -> str:
    transition(
        run_id,
        to=RunStatus.FAILED,
        frm=(RunStatus.RUNNING,),
        lease=lease,
        error_code=code,
        error_message=message,
        finished_at=timezone.now(),
        stage="failed",
    )
    logger.warning("run failed: %s %s", code, message, extra={"run_id": str(run_id)})
    return BacktestRun.objects.get(id=run_id).status


def _downsample_equity(equity) -> list[list]:
    return downsample_equity(equity, EQUITY_POINTS)


TRADE_FLOATS = (
    "entry_price",
    "exit_price",
    "size",
    "pnl",
    "pnl_pct",
    "fees",
    "gross_pnl",
    "commission",
    "spread_cost",
    "slippage_cost",
    "mae",
    "mfe",
    "financing",
)
TRADE_OPTIONAL = ("r_multiple", "mae_r", "mfe_r", "initial_stop", "initial_target", "risk", "requested_size")


TRADE_PRICES = ("entry_price", "exit_price", "initial_stop", "initial_target")


def _trade_rows(trades: pd.DataFrame, decimals: int | None = None) -> list[dict]:
    """The engine's trades → Trade model fields, one dict per trade, column by column (NaN in an
    optional figure, e.g. R without a stop, becomes null). Prices are stored with the
    instrument's ``decimals`` (fills are on its tick already: this drops float noise such as
    100.01000000000001, so the API, lists and report agree), rounded as Python's ``round``."""
    columns: dict[str, list] = {}
    for name in TRADE_FLOATS + TRADE_OPTIONAL:
        if name not in trades:
            continue
        values = trades[name].to_numpy(np.float64)
        rounded = round_list(values, decimals) if decimals is not None and name in TRADE_PRICES else values.tolist()
        if name in TRADE_OPTIONAL:
            rounded = [None if v != v else r for v, r in zip(values.tolist(), rounded)]
        columns[name] = rounded
    n = len(trades)
    markets = trades["market"].tolist() if "market" in trades else [""] * n
    columns.update(
        market=[m if isinstance(m, str) else "" for m in markets],  # a missing one: NaN in a string column
        direction=trades["direction"].tolist(),
        exit_reason=trades["exit_reason"].tolist(),
        bars_held=[int(b) for b in trades["bars_held"].tolist()],
        entry_time=list(pd.DatetimeIndex(trades["entry_time"]).to_pydatetime()),
        exit_time=list(pd.DatetimeIndex(trades["exit_time"]).to_pydatetime()),
    )
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*columns.values())] if n else []


def _report_data(
    run: BacktestRun,
    frame: pd.DataFrame,
    trades: pd.DataFrame,
    equity_curve: list,
    metrics: dict,
    benchmark: Benchmark | None = None,
) -> dict:
    """What the report takes from the price data, computed while it is in memory (pages and PDFs
    render it from the run and never load market data). A failure here costs the report its
    price charts, not the run its results."""
    try:
        extras = report_extras(
            frame,
            trades,
            equity_series(equity_curve).index,
            initial_capital(metrics, run.request),
            benchmark_closes=benchmark.closes if benchmark and benchmark.other else None,
        )
        if benchmark is not None:
            extras.update(benchmark_name=benchmark.name, rolling=benchmark.comparison.rolling)
        return extras
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:
        logger.exception("report data failed", extra={"run_id": str(run.id)})
        return {"has_prices": False, "notes": [f"The price charts could not be prepared: {type(exc).__name__}: {exc}"]}


@dataclass
class Benchmark:
    """What a run is measured against: ``closes`` as of each of its bars, its ``name``, whether it
    is ``other`` than the run's own market, and the ``comparison`` (metrics and rolling series)."""

    closes: pd.Series
    name: str
    other: bool
    comparison: bm.BenchmarkComparison


def _benchmark(
    run: BacktestRun, equity: pd.Series, frame: pd.DataFrame, shared: dict | None = None
) -> tuple[Benchmark | None, list[str]]:
    """The run against its benchmark: the request's ``benchmark`` (loaded now, over the measured
    window), else buy-and-hold of its own market. A benchmark that cannot be loaded falls back to
    the run's market with a warning; any other failure costs the run its benchmark figures, never
    its results.

    ``shared``: a dict kept by a chunk of a batch's runs for one data window (``backtests.chunks``):
    the benchmark's closes as of the run's bars depend only on the window and the benchmark asked
    for, so its runs load and align them once (by the same calls, so the same numbers) and each
    compares its own equity."""
    warnings: list[str] = []
    if not len(equity):
        return None, warnings
    times = pd.DatetimeIndex(equity.index)
    wanted = (run.request or {}).get("benchmark")
    key = json.dumps(wanted, sort_keys=True)
    known = (shared or {}).get(key)
    if known is not None and known[0].equals(times):
        _, aligned, at, name, other, warnings = known
        warnings = list(warnings)
    else:
        closes, name, other = frame["close"], f"{run.market} buy and hold", False
        if wanted:
            source = wanted["dataSource"]
            source = f"dataset:{source}" if isinstance(source, int) else source
            label = f"{wanted['market']} buy and hold ({source.replace('dataset:', 'dataset ')})"
            try:
                closes, loaded_warnings = market_data_load_closes(
                    symbol=wanted["market"], timeframe=run.timeframe, start=times[0], end=run.data_end, source=source
                )
                name, other = label, True
                warnings += [f"Benchmark {wanted['market']}: {w}" for w in loaded_warnings]
            except CodedError as exc:
                warnings.append(
                    f"The benchmark {label} could not be loaded ({exc.message}); compared with {name} instead."
                )
                closes = frame["close"]
        try:
            aligned = pd.Series(bm.closes_at(closes, times), index=times).dropna()
            at = bm.closes_at(aligned, times)
        except SoftTimeLimitExceeded:
            raise
        except Exception:
            logger.exception("benchmark comparison failed", extra={"run_id": str(run.id)})
            return None, warnings
        if shared is not None:
            shared[key] = (times, aligned, at, name, other, list(warnings))
    try:
        days = market_annualisation(symbol=run.market, timeframe=run.timeframe).days_per_year
        comparison = bm.compare(equity, aligned, days_per_year=days, name=name, at=at)
    except SoftTimeLimitExceeded:
        raise
    except Exception:
        logger.exception("benchmark comparison failed", extra={"run_id": str(run.id)})
        return None, warnings
    return Benchmark(aligned, name, other, comparison), warnings


def run_montecarlo(*, trades: pd.DataFrame, initial_capital: float) -> dict | None:
    """Monte Carlo robustness with the default settings, by method (``bootstrap``, ``shuffle``),
    of the trades in order (their net ``pnl`` as returns on the equity before each). None without
    trades. The API answers other settings from the stored trades the same way."""
    returns = mc.trade_returns_on_equity(trades["pnl"].to_numpy(dtype=np.float64), initial_capital)
    if not len(returns):
        return None
    return {method: mc.monte_carlo(returns, mc.MonteCarloSettings(method=method)) for method in mc.METHODS}


def _montecarlo(run: BacktestRun, trades: pd.DataFrame, metrics: dict) -> dict | None:
    """As ``_report_data``: a failure costs the report its Monte Carlo section, not the run."""
    try:
        return run_montecarlo(trades=trades, initial_capital=initial_capital(metrics, run.request))
    except SoftTimeLimitExceeded:
        raise
    except Exception:
        logger.exception("Monte Carlo failed", extra={"run_id": str(run.id)})
        return None


def results_to_store(
    run: BacktestRun, result, loaded, clock: RunClock, benchmarks: dict | None = None
) -> tuple[dict, list[Trade]]:
    """What a run stores from its engine ``result`` and ``loaded`` data: the run's fields (metrics,
    curves, benchmark, report data, Monte Carlo, warnings) and its trade rows (not saved). The
    single run's path and a chunk of a batch's runs (``backtests.chunks``) store the same;
    ``benchmarks``: the chunk's benchmark closes for this data window (see :func:`_benchmark`)."""
    trades = result.trades
    decimals = result.metrics.get("price_decimals")
    with clock.step("trade_rows"):
        rows = [Trade(run_id=run.id, seq=i + 1, **fields) for i, fields in enumerate(_trade_rows(trades, decimals))]
    measured = result.equity.index  # the trading window (after any warm-up)
    metrics = dict(result.metrics)
    metrics["strategy_text"] = result.strategy_text
    with clock.step("equity_curves"):
        equity_curve = _downsample_equity(result.equity)
    with clock.step("benchmark"):
        benchmark, benchmark_warnings = _benchmark(run, result.equity, loaded.frame, benchmarks)
    if benchmark is not None:
        metrics.update(benchmark.comparison.metrics)
    portfolio = result.extra.get("portfolio")
    # a portfolio's price charts are its first market's, with that market's trades
    charted = trades[trades.market == result.extra["markets"][0]] if portfolio else trades
    with clock.step("report_data"):
        report_data = _report_data(run, loaded.frame, charted, equity_curve, metrics, benchmark)
    if portfolio:
        report_data["portfolio"] = portfolio
    with clock.step("equity_curves"):
        equity_detail = equity_columns(result.equity, EQUITY_DETAIL_POINTS)
    with clock.step("montecarlo"):
        montecarlo = _montecarlo(run, trades, metrics)
    fields = dict(
        metrics=metrics,
        trade_count=len(rows),
        equity_curve=equity_curve,
        report_data=report_data,
        equity_detail=equity_detail,
        montecarlo=montecarlo,
        engine_version=result.engine_version,
        data_checksum=result.data_checksum,
        bars=result.bars,
        data_start=measured[0].to_pydatetime(),
        data_end=measured[-1].to_pydatetime(),
        warnings=_merged(list(run.warnings or []), list(loaded.warnings) + benchmark_warnings + list(result.warnings)),
        data_quality=getattr(loaded, "quality", None),
        heartbeat_at=timezone.now(),
    )
    return fields, rows


def _store_results(run: BacktestRun, lease: str, result, loaded, clock: RunClock | None = None) -> bool:
    """Write trades, metrics and the report's data in one transaction, only while we hold the lease."""
    clock = clock or RunClock()
    fields, rows = results_to_store(run, result, loaded, clock)
    with clock.step("prepare"):
        render = _renders_pdf(run)

    def write():
        """One transaction: the row first (the conditional update holds the lease and locks the
        row), then the trades. Without a PDF the same update ends the run (SUCCEEDED, 100 %);
        with one it waits at 85 % for the report."""
        with transaction.atomic():
            mine = BacktestRun.objects.filter(id=run.id, status=RunStatus.RUNNING, lease_token=lease)
            if render:
                moved = mine.update(stage="rendering_report", progress=85, timings=clock.as_dict(), **fields)
            else:
                moved = transition(
                    run.id,
                    to=RunStatus.SUCCEEDED,
                    frm=(RunStatus.RUNNING,),
                    lease=lease,
                    owner_batch=(run.owner_id, run.batch_id, run.batch_params),
                    progress=100,
                    stage="done",
                    finished_at=timezone.now(),
                    timings=clock.as_dict(),
                    **fields,
                )
            if not moved:
                raise RunCancelled()
            if run.attempts > 1:  # an earlier attempt may have stored trades before it died
                Trade.objects.filter(run_id=run.id).delete()
            Trade.objects.bulk_create(rows, batch_size=2000)

    with clock.step("db_write"):
        _db_retry(write)
    if not render:
        # the write's own time, known only now: one small update (the breakdown bench/throughput.py prints)
        _relaxed(lambda: BacktestRun.objects.filter(id=run.id).update(timings=clock.as_dict()))
        if run.started_at:
            observability.STAGE_SECONDS.labels(stage="total").observe((timezone.now() - run.started_at).total_seconds())
    return render


# ---- report -------------------------------------------------------------------------------


def report_dispatch(*, run_id) -> bool:
    """Send the run's report task (by name: tasks import services, not the other way round)."""
    try:
        current_app.send_task(
            "backtests.tasks.render_report_task",
            args=[str(run_id)],
            retry=True,
            ignore_result=True,  # no result is read: no subscription to a result store
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        )
    except Exception:
        logger.warning("broker unavailable for the report; the reaper will resend it", extra={"run_id": str(run_id)})
        return False
    return True


def backtest_finish_report(*, run_id, clock: RunClock | None = None) -> str:
    """Render the PDF of a run whose results are stored, then mark it SUCCEEDED. A rendering
    failure is recorded on the run (``report_error``) and the run still succeeds. Called by the
    worker that ran it right after storing (``QM_REPORT_IN_RUN_TASK``, with its ``clock``), else
    by the report task on the ``reports`` queue."""
    cached = BacktestRun.objects.filter(id=run_id, status=RunStatus.SUCCEEDED, cached=True).first()
    if cached is not None:  # answered from the cache: it still gets a PDF of its own
        if not Artifact.objects.filter(run_id=run_id, kind=Artifact.Kind.REPORT_PDF).exists():
            report_render_pdf(run_id=run_id)
        return RunStatus.SUCCEEDED
    run = (  # the lease and the steps so far: not the stored results (the renderer reads those)
        BacktestRun.objects.filter(id=run_id, status=RunStatus.RUNNING, stage="rendering_report")
        .only("id", "lease_token", "timings")
        .first()
    )
    if run is None:
        return BacktestRun.objects.filter(id=run_id).values_list("status", flat=True).first() or "MISSING"
    if clock is None:  # a task of its own: the run's steps so far are the stored ones
        clock = RunClock(run.timings)
    mine = BacktestRun.objects.filter(id=run_id, status=RunStatus.RUNNING, lease_token=run.lease_token)
    mine.update(heartbeat_at=timezone.now())
    marks = [time.perf_counter()]  # HTML started; printing started

    def html_ready() -> None:  # the page is built; Chromium prints it next (the longer half)
        clock.add("pdf_html", (time.perf_counter() - marks[0]) * 1000)
        with clock.step("progress"):
            moved = mine.update(progress=HTML_READY_PROGRESS, heartbeat_at=timezone.now())
        if not moved:
            raise RunCancelled  # cancelled meanwhile: no PDF, the worker is free at once
        marks.append(time.perf_counter())

    try:
        report_render_pdf(run_id=run_id, on_html_ready=html_ready)
    except SoftTimeLimitExceeded:
        BacktestRun.objects.filter(id=run_id).update(report_error="PDF rendering hit the time limit.")
    except RunCancelled:
        return BacktestRun.objects.get(id=run_id).status
    clock.add("pdf_print", (time.perf_counter() - marks[-1]) * 1000)
    return _succeed(run_id, run.lease_token, clock)


def report_regenerate(*, run: BacktestRun) -> Artifact:
    """Render the PDF again for a SUCCEEDED run (e.g. after Chromium was missing)."""
    if run.status != RunStatus.SUCCEEDED:
        raise CodedError(
            "INVALID_STATE", f"the run is {run.status}; a report needs a SUCCEEDED run", details={"status": run.status}
        )
    artifact = report_render_pdf(run_id=run.id)
    if artifact is None:
        run.refresh_from_db(fields=["report_error"])
        raise CodedError("REPORT_FAILED", f"the PDF could not be rendered: {run.report_error}")
    BacktestRun.objects.filter(id=run.id).update(report_error="")
    return artifact


def report_render_pdf(*, run_id, on_html_ready: Callable[[], None] | None = None) -> Artifact | None:
    """Render the run's report to PDF and store it as an artifact. A failure is recorded on
    the run (``report_error``); the results stay saved. ``on_html_ready`` is called between the
    HTML and the PDF (the worker moves the run's progress bar)."""
    from reports.pdf import PdfRenderError, html_to_pdf
    from reports.render import render_report_html

    run = BacktestRun.objects.defer("equity_detail").get(id=run_id)  # the report draws the 600-point curve
    started = time.monotonic()
    try:
        html = render_report_html(run, for_pdf=True, inputs=selectors.report_inputs_for_run(run=run))
        if on_html_ready is not None:
            on_html_ready()
        pdf = html_to_pdf(html, page_format=settings.QM_REPORT_PAGE_SIZE)
    except PdfRenderError as exc:
        logger.warning("PDF rendering failed: %s", exc, extra={"run_id": str(run_id)})
        BacktestRun.objects.filter(id=run_id).update(report_error=str(exc))
        return None
    observability.STAGE_SECONDS.labels(stage="rendering_report").observe(time.monotonic() - started)
    key = artifacts.write(f"reports/{run.id}.pdf", pdf)  # replaces an older PDF atomically
    artifact, _ = Artifact.objects.update_or_create(
        run=run,
        kind=Artifact.Kind.REPORT_PDF,
        defaults={"storage_key": key, "bytes": len(pdf), "sha256": hashlib.sha256(pdf).hexdigest()},
    )
    BacktestRun.objects.filter(id=run_id).update(report_error="")
    return artifact


def backtest_delete_for_user(*, user) -> dict[str, int]:
    """Delete the user's backtests (registered in accounts.privacy for account deletion): the
    report PDFs in storage first, then the runs (trades and artifacts cascade) and strategies."""
    deleted = backtest_delete_runs(runs=BacktestRun.objects.filter(owner=user))
    strategies, _ = Strategy.objects.filter(owner=user).delete()
    return {**deleted, "strategies": strategies}


def backtest_delete_runs(*, runs) -> dict[str, int]:
    """Delete ``runs`` (a queryset): their report PDFs in storage first, then the rows (trades and
    artifacts cascade). A worker still running one writes nothing afterwards (its lease matches no
    row). Returns how many runs, trades and report files went."""
    keys = list(Artifact.objects.filter(run__in=runs).values_list("storage_key", flat=True))
    for key in keys:
        artifacts.delete(key)  # a file already gone is fine
    _, deleted = runs.delete()
    return {
        "runs": deleted.get("backtests.BacktestRun", 0),
        "trades": deleted.get("backtests.Trade", 0),
        "report_files": len(keys),
    }
