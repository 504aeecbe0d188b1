"""Writes: submit, dispatch, execute, cancel and re-run backtests. The only place that
changes a run's status; every transition is a conditional update that refuses illegal ones.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backtests.engine import ENGINE_VERSION, EngineError, run_backtest
from backtests.models import Artifact, BacktestRun, RunStatus, Strategy, Trade
from backtests.requests import data_window_from_request, strategy_from_request
from marketdata.services import market_data_load
from qm_platform.errors import ApplicationError

logger = logging.getLogger("qm.backtests")

# Progress bands per stage: (start %, end %).
STAGES = {
    "loading_data": (0, 10),
    "computing_modules": (10, 40),
    "simulating": (40, 80),
    "analysing": (80, 85),
    "rendering_report": (85, 99),
}
EQUITY_POINTS = 600


class RunCancelled(Exception):
    """Raised inside a run when its status is no longer RUNNING (someone cancelled it)."""


class IllegalTransition(Exception):
    pass


# ---- submit & dispatch ------------------------------------------------------------------

def backtest_submit(*, user, body: dict, strategy: Strategy | None = None) -> BacktestRun:
    """Validate the whole request, save the run as QUEUED and enqueue it on commit.

    Raises ApplicationError (400) for anything invalid: no run is created, nothing enqueued.
    """
    strategy_from_request(body)
    window = data_window_from_request(body)
    if window.source == "dataset":
        from marketdata.selectors import dataset_get
        if dataset_get(dataset_id=window.dataset_id) is None:
            raise ApplicationError("DATASET_NOT_FOUND", f"no dataset with id {window.dataset_id}",
                                   details={"field": "marketContext.dataSource"})
    ctx = body["marketContext"]
    with transaction.atomic():
        run = BacktestRun.objects.create(
            owner=user, strategy=strategy, request=body, market=window.symbol, timeframe=window.timeframe,
            direction=ctx.get("direction", "Long"), data_start=window.start, data_end=window.end,
            data_source=window.source if window.dataset_id is None else f"dataset:{window.dataset_id}",
            engine_version=ENGINE_VERSION)
        transaction.on_commit(lambda: backtest_dispatch(run_id=run.id))
    logger.info("run %s submitted by %s", run.id, user)
    return run


def backtest_dispatch(*, run_id) -> bool:
    """Send the run's task to the broker; a broker outage leaves it QUEUED for the sweep."""
    from backtests.tasks import run_backtest_task

    try:
        result = run_backtest_task.apply_async(args=[str(run_id)], retry=True,
                                               retry_policy={"max_retries": 2, "interval_start": 0,
                                                             "interval_step": 0.5, "interval_max": 1})
    except Exception:  # kombu raises OperationalError and friends when the broker is down
        logger.warning("run %s: broker unavailable, left QUEUED for the dispatcher", run_id, exc_info=True)
        return False
    BacktestRun.objects.filter(id=run_id).update(celery_task_id=result.id, dispatched_at=timezone.now())
    return True


def backtest_dispatch_pending(*, older_than_seconds: float = 10) -> int:
    """The outbox sweep: dispatch QUEUED runs that were never handed to the broker."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    sent = 0
    for run_id in BacktestRun.objects.filter(status=RunStatus.QUEUED, dispatched_at__isnull=True,
                                             created_at__lt=cutoff).values_list("id", flat=True):
        sent += backtest_dispatch(run_id=run_id)
    return sent


def backtest_rerun(*, run: BacktestRun, user) -> BacktestRun:
    return backtest_submit(user=user, body=run.request, strategy=run.strategy)


# ---- cancel -----------------------------------------------------------------------------

def backtest_cancel(*, run: BacktestRun) -> BacktestRun:
    """Cancel a QUEUED or RUNNING run. A running worker notices at its next progress write."""
    changed = BacktestRun.objects.filter(id=run.id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
        status=RunStatus.CANCELLED, finished_at=timezone.now(), stage="cancelled",
        error_code="CANCELLED", error_message="Cancelled by the user.")
    run.refresh_from_db()
    if not changed:
        raise ApplicationError("INVALID_STATE", f"the run is {run.status}; only QUEUED or RUNNING runs "
                               "can be cancelled", details={"status": run.status}, status_code=409)
    logger.info("run %s cancelled", run.id)
    return run


# ---- execute ----------------------------------------------------------------------------

@dataclass
class ProgressWriter:
    """Throttled progress: one single-row update per ~2 % or per interval, whichever first.
    Each write doubles as the cancellation check: if the run left RUNNING, stop."""

    run_id: object
    min_interval: float
    last_pct: int = -1
    last_stage: str = ""
    last_write: float = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        low, high = STAGES[stage]
        pct = int(low + (high - low) * (done / total if total else 1))
        now = time.monotonic()
        if stage == self.last_stage and pct < self.last_pct + 2 and now - self.last_write < self.min_interval:
            return
        self.write(stage, pct)

    def write(self, stage: str, pct: int) -> None:
        changed = BacktestRun.objects.filter(id=self.run_id, status=RunStatus.RUNNING).update(
            stage=stage, progress=pct)
        if not changed:
            raise RunCancelled()
        self.last_pct, self.last_stage, self.last_write = pct, stage, time.monotonic()


def backtest_execute(*, run_id, task_id: str = "") -> str:
    """Claim and run a backtest. Returns the final status. Safe to deliver twice: a run that
    is no longer QUEUED is not claimed again, and results are written keyed by the run."""
    claimed = BacktestRun.objects.filter(id=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), stage="loading_data", progress=0,
        celery_task_id=task_id or "")
    if not claimed:
        status = BacktestRun.objects.filter(id=run_id).values_list("status", flat=True).first()
        logger.info("run %s not claimed (status %s)", run_id, status)
        return status or "MISSING"
    BacktestRun.objects.filter(id=run_id).update(attempts=F("attempts") + 1)
    run = BacktestRun.objects.get(id=run_id)
    progress = ProgressWriter(run_id=run.id, min_interval=settings.QM_PROGRESS_MIN_INTERVAL)
    try:
        progress.write("loading_data", 0)
        spec = strategy_from_request(run.request)
        loaded = market_data_load(run=run)
        progress.write("loading_data", 10)
        result = run_backtest(loaded.frame, spec, on_progress=progress)
        _store_results(run, result, loaded)
    except RunCancelled:
        logger.info("run %s stopped: cancelled", run_id)
        return RunStatus.CANCELLED
    except SoftTimeLimitExceeded:
        return _fail(run_id, "TIMEOUT", f"The run exceeded the time limit of "
                     f"{settings.QM_TASK_SOFT_TIME_LIMIT} s and was stopped.")
    except ApplicationError as exc:
        return _fail(run_id, exc.code, exc.message)
    except EngineError as exc:
        return _fail(run_id, exc.code, exc.message)
    except Exception as exc:  # the run fails, the worker keeps serving
        logger.exception("run %s failed in the engine", run_id)
        return _fail(run_id, "ENGINE_ERROR", f"The backtest failed: {type(exc).__name__}: {exc}")

    try:
        progress.write("rendering_report", 85)
        if settings.QM_RENDER_PDF:
            report_render_pdf(run_id=run.id)
    except RunCancelled:
        return RunStatus.CANCELLED
    except SoftTimeLimitExceeded:
        BacktestRun.objects.filter(id=run_id).update(report_error="PDF rendering hit the time limit.")
    finished = BacktestRun.objects.filter(id=run_id, status=RunStatus.RUNNING).update(
        status=RunStatus.SUCCEEDED, progress=100, stage="done", finished_at=timezone.now())
    return RunStatus.SUCCEEDED if finished else BacktestRun.objects.get(id=run_id).status


def _fail(run_id, code: str, message: str) -> str:
    BacktestRun.objects.filter(id=run_id, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED, error_code=code, error_message=message, finished_at=timezone.now(),
        stage="failed")
    logger.warning("run %s failed: %s %s", run_id, code, message)
    return RunStatus.FAILED


def _downsample_equity(equity) -> list[list]:
    step = max(1, len(equity) // EQUITY_POINTS)
    picked = equity.iloc[::step]
    if len(equity) and picked.index[-1] != equity.index[-1]:
        picked = equity.iloc[list(range(0, len(equity), step)) + [len(equity) - 1]]
    return [[ts.isoformat(), round(float(v), 6)] for ts, v in picked.items()]


def _store_results(run: BacktestRun, result, loaded) -> None:
    trades = result.trades
    rows = [
        Trade(run_id=run.id, seq=i + 1, direction=t.direction, entry_time=t.entry_time.to_pydatetime(),
              entry_price=float(t.entry_price), exit_time=t.exit_time.to_pydatetime(),
              exit_price=float(t.exit_price), size=float(t.size), pnl=float(t.pnl), pnl_pct=float(t.pnl_pct),
              exit_reason=t.exit_reason, bars_held=int(t.bars_held), fees=float(t.fees),
              r_multiple=None if np.isnan(t.r_multiple) else float(t.r_multiple))
        for i, t in enumerate(trades.itertuples(index=False))
    ]
    frame = loaded.frame
    metrics = dict(result.metrics)
    metrics["strategy_text"] = result.strategy_text
    with transaction.atomic():
        Trade.objects.filter(run_id=run.id).delete()
        Trade.objects.bulk_create(rows, batch_size=2000)
        BacktestRun.objects.filter(id=run.id).update(
            metrics=metrics, trade_count=len(rows), equity_curve=_downsample_equity(result.equity),
            engine_version=result.engine_version, data_checksum=result.data_checksum, bars=result.bars,
            data_start=frame.index[0].to_pydatetime(), data_end=frame.index[-1].to_pydatetime(),
            warnings=list(loaded.warnings))


# ---- report -----------------------------------------------------------------------------

def report_regenerate(*, run: BacktestRun) -> Artifact:
    """Render the PDF again for a SUCCEEDED run (e.g. after Chromium was missing)."""
    if run.status != RunStatus.SUCCEEDED:
        raise ApplicationError("INVALID_STATE", f"the run is {run.status}; a report needs a SUCCEEDED run",
                               details={"status": run.status}, status_code=409)
    artifact = report_render_pdf(run_id=run.id)
    if artifact is None:
        run.refresh_from_db()
        raise ApplicationError("REPORT_FAILED", f"the PDF could not be rendered: {run.report_error}",
                               status_code=503)
    return artifact


def report_render_pdf(*, run_id) -> Artifact | None:
    """Render the run's report to PDF and store it as an artifact. A failure is recorded on
    the run (``report_error``); the results stay saved."""
    from reports.pdf import PdfRenderError, html_to_pdf
    from reports.render import render_report_html

    run = BacktestRun.objects.get(id=run_id)
    try:
        pdf = html_to_pdf(render_report_html(run, for_pdf=True), page_format=settings.QM_REPORT_PAGE_SIZE)
    except PdfRenderError as exc:
        logger.warning("run %s: PDF rendering failed: %s", run_id, exc)
        BacktestRun.objects.filter(id=run_id).update(report_error=str(exc))
        return None
    key = f"reports/{run.id}.pdf"
    if default_storage.exists(key):
        default_storage.delete(key)
    default_storage.save(key, ContentFile(pdf))
    artifact, _ = Artifact.objects.update_or_create(
        run=run, kind=Artifact.Kind.REPORT_PDF,
        defaults={"storage_key": key, "bytes": len(pdf), "sha256": hashlib.sha256(pdf).hexdigest()})
    BacktestRun.objects.filter(id=run_id).update(report_error="")
    return artifact
