"""Create, dispatch, advance, cancel, sweep and finalise batches. Only this module changes a
batch's status.

A batch is a set of ordinary BacktestRuns (``run.batch``), created QUEUED and handed to the
per-user dispatcher of backtests, which keeps at most the owner's plan's number of runs in the
broker (fair queues: a sweep of thousands never stands in front of another user's run). The
database decides when a batch is done: :func:`batch_advance` looks at its runs under a row lock
and moves the batch on (walk-forward: creates the out-of-sample runs of every window whose
in-sample grid is final; then builds the summary exactly once). It is called whenever a run of
the batch ends (``batches.tasks.batch_run_finished``, sent by backtests by name), by a beat
sweep (a message that never came: a broker restart) and right after creation when every run
was answered from the result cache. So a failed run never fails the batch, a message
delivered twice changes nothing, and every batch ends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import islice

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from backtests.models import BacktestRun, RunStatus
from backtests.services import (
    backtest_cancel_batch_runs,
    backtest_dispatch_waiting,
    backtest_has_room,
    backtest_submit,
    backtest_submit_many,
)
from backtests.strategies.compile import CompiledRequest
from batches import selectors
from batches.models import Batch, BatchMode, BatchStage, BatchStatus, Schedule
from batches.objective import parse_constraints, parse_objective, pick_best
from batches.services.plan import BatchPlan, batch_plan, batch_plan_restore, combination_compile, window_body
from batches.services.report import batch_report_dispatch
from batches.services.summary import batch_build_summary, batch_measure_drift
from qm_platform.errors import CodedError

logger = logging.getLogger("qm.batches")

PENDING = (RunStatus.QUEUED, RunStatus.RUNNING)
IN_SAMPLE, OUT_OF_SAMPLE = "in_sample", "out_of_sample"
WAITING = "WAITING"  # batch_advance: runs still in flight, nothing was dispatched
ADVANCE_TASK = "batches.tasks.batch_advance"  # sent by name: the task module imports this one
CREATE_RUNS_TASK = "batches.tasks.create_batch_runs"
FIRST_CREATE_CHUNKS = 4  # batch_create_runs' first chunk: this many run chunks (QM_BATCH_CHUNK_RUNS)


# ---- create & dispatch ------------------------------------------------------------------------


def batch_create(
    *,
    user,
    definition: dict | None = None,
    plan: BatchPlan | None = None,
    schedule: Schedule | None = None,
    warnings: list[str] | None = None,
) -> Batch:
    """Validate the request (see :func:`~batches.services.plan.batch_plan`; or take its
    ``plan``), then create the batch. Every refusal (4xx) comes from the plan, before anything
    is saved.

    A batch of at most ``QM_BATCH_INLINE_RUNS`` first-pass runs is created with all its runs in
    one transaction and the runs are sent when it commits. Runs answered from the result cache
    are SUCCEEDED already and are not sent; if nothing needs sending the batch is advanced (and
    finished) at once. A larger batch is saved alone, in stage ``creating_runs``, and
    ``batches.tasks.create_batch_runs`` saves its runs (:func:`batch_create_runs`), so the
    request answers at once whatever the batch's size."""
    plan = plan or batch_plan(user=user, definition=definition)
    inline = plan.first_pass_runs <= settings.QM_BATCH_INLINE_RUNS
    with transaction.atomic():
        batch = Batch.objects.create(
            owner=user,
            schedule=schedule,
            name=plan.name,
            strategy=plan.strategy,
            strategy_version=plan.strategy_version,
            mode=plan.mode,
            stage=BatchStage.RUNNING if inline else BatchStage.CREATING,
            definition=plan.definition,
            combination_count=len(plan.indices),
            planned_runs=plan.planned_runs,
            warnings=list(warnings or []),
            windows=[dict(w.as_dict(), state=IN_SAMPLE) for w in plan.windows] or None,
        )
        batch_id = batch.id
        if not inline:
            transaction.on_commit(lambda: _send_create_runs(batch_id=batch_id))
            logger.info("batch saved: %d runs to create in a task", plan.first_pass_runs, extra=_log(batch_id))
        else:
            runs = _first_pass_runs(plan, user)
            to_send = _attach(runs, batch)
            transaction.on_commit(lambda: batch_dispatch(batch_id=batch_id, run_ids=to_send))
            logger.info(
                "batch created: %d runs (%d to run, %d cached)",
                len(runs),
                len(to_send),
                len(runs) - len(to_send),
                extra=_log(batch_id),
            )
    if not inline:
        batch.refresh_from_db()  # FAILED if the broker refused the task
    return batch


def _log(batch_id) -> dict:
    return {"run_id": f"batch:{batch_id}"}


def _send_create_runs(*, batch_id) -> None:
    """Send the task that saves a large batch's runs. A broker that refuses it fails the batch at
    once (nothing else would ever create its runs): never a batch stuck in ``creating_runs``."""
    try:
        current_app.send_task(CREATE_RUNS_TASK, args=[str(batch_id)], ignore_result=True)
    except Exception:  # kombu raises OperationalError and friends when the broker is down
        logger.warning("broker unavailable: the batch's runs cannot be created", extra=_log(batch_id))
        _creation_failed(
            batch_id, "BROKER_UNAVAILABLE", "The task queue is unavailable; the batch was not started. Try again."
        )


def _combinations(plan: BatchPlan, *, skip: set = frozenset()) -> Iterator[tuple[dict, dict, dict]]:
    """(params, request body, batch_params) of every first-pass run of the plan, in order:
    one per combination, or for walk-forward one per combination and window on the window's
    in-sample span. ``skip`` holds (combination, window) pairs that already have a run."""
    for index in plan.indices:
        params, body = plan.combination(index)
        if plan.mode != BatchMode.WALK_FORWARD:
            if (index, None) not in skip:
                yield params, body, {"combination": index, "params": params}
            continue
        for window in plan.windows:
            if (index, window.index) not in skip:
                info = {"combination": index, "params": params, "window": window.index, "phase": IN_SAMPLE}
                yield params, window_body(body, window.is_start, window.is_end), info


def _compile(plan: BatchPlan, user, params: dict, body: dict, info: dict, instruments: dict) -> CompiledRequest:
    """Compile one run's request, once (the plan compiled the first grid combination already);
    ``instruments``: the markets resolved so far for this batch."""
    if plan.first_compiled is not None and plan.mode == BatchMode.GRID and info["combination"] == plan.indices[0]:
        return plan.first_compiled
    return combination_compile(user=user, body=body, params=params, instruments=instruments)


def _first_pass_runs(plan: BatchPlan, user) -> list[BacktestRun]:
    """Save every first-pass run of a small batch, one by one, QUEUED and not sent (or answered
    from the result cache)."""
    runs, instruments = [], {}
    for params, body, info in _combinations(plan):
        compiled = _compile(plan, user, params, body, info, instruments)
        runs.append(
            _submit(
                user=user, compiled=compiled, batch_params=info, strategy=plan.strategy, version=plan.strategy_version
            )
        )
    return runs


def batch_create_runs(*, batch_id) -> str:
    """Save the first-pass runs of a batch in stage ``creating_runs`` (the task behind a large
    POST), ``QM_BATCH_CREATE_CHUNK`` at a time (the first chunk only ``FIRST_CREATE_CHUNKS`` run
    chunks' worth, so the other workers start within a fraction of a second instead of after the
    first 500 compilations): each chunk is compiled (each combination once),
    written with one bulk insert through ``backtest_submit_many`` (plan, fingerprint and result
    cache as for one run) and handed to the owner's dispatcher, so the first runs execute while
    the rest are saved. Between chunks it looks at the batch: a cancel stops it. Any error fails
    the batch (FAILED, ``error_code``/``error_message``; the runs saved so far are cancelled).
    When every run exists the batch moves to stage ``running`` and is advanced as usual.

    A second delivery of the task skips the runs already saved. Returns the batch's status."""
    batch = Batch.objects.select_related("owner").filter(id=batch_id).first()
    if batch is None:
        return "MISSING"
    if batch.status != BatchStatus.RUNNING or batch.stage != BatchStage.CREATING:
        return batch.status
    owner = batch.owner
    try:
        plan = batch_plan_restore(definition=batch.definition, windows=batch.windows)
        done = {
            (info.get("combination"), info.get("window"))
            for info in batch.runs.values_list("batch_params", flat=True)
            if info
        }
        pending = _combinations(plan, skip=done)
        instruments: dict = {}  # each market's instrument read once for the task
        # the first chunk small: the other workers start on its runs while the rest are compiled
        size = min(settings.QM_BATCH_CREATE_CHUNK, FIRST_CREATE_CHUNKS * settings.QM_BATCH_CHUNK_RUNS)
        while chunk := list(islice(pending, size)):
            size = settings.QM_BATCH_CREATE_CHUNK
            if not Batch.objects.filter(id=batch_id, status=BatchStatus.RUNNING).exists():
                break  # cancelled (or failed) while its runs were being saved
            items = [(_compile(plan, owner, params, body, info, instruments), info) for params, body, info in chunk]
            with transaction.atomic():
                backtest_submit_many(
                    user=owner,
                    items=items,
                    batch_id=batch_id,
                    strategy=batch.strategy,
                    strategy_version=batch.strategy_version,
                )
            backtest_dispatch_waiting(owner_id=owner.id)
    except CodedError as exc:
        _creation_failed(batch_id, exc.code, exc.message)
    except Exception as exc:  # the batch must end, whatever went wrong
        logger.exception("creating the batch's runs failed", extra=_log(batch_id))
        _creation_failed(batch_id, "BATCH_CREATE_FAILED", f"Creating the runs failed: {type(exc).__name__}: {exc}")
    created = Batch.objects.filter(id=batch_id, status=BatchStatus.RUNNING, stage=BatchStage.CREATING).update(
        stage=BatchStage.RUNNING
    )
    if not created:  # cancelled or failed meanwhile: a chunk saved after the cancel is cancelled too
        if backtest_cancel_batch_runs(batch_id=batch_id):
            _rebuild_summary(batch_id)
        return Batch.objects.filter(id=batch_id).values_list("status", flat=True).first() or "MISSING"
    logger.info("batch runs created: %d", batch.runs.count(), extra=_log(batch_id))
    backtest_dispatch_waiting(owner_id=owner.id)
    return batch_advance(batch_id=batch_id)  # every run may be final already (cached, or fast)


def _creation_failed(batch_id, code: str, message: str) -> None:
    """A batch whose runs could not all be saved ends FAILED with the reason; the runs saved
    so far are cancelled (they would run for a batch that is over)."""
    moved = Batch.objects.filter(id=batch_id, status=BatchStatus.RUNNING).update(
        status=BatchStatus.FAILED, error_code=code, error_message=message[:2000], finished_at=timezone.now()
    )
    if moved:
        backtest_cancel_batch_runs(batch_id=batch_id)
        _rebuild_summary(batch_id)
        logger.warning("batch failed while creating its runs: %s %s", code, message, extra=_log(batch_id))


def _rebuild_summary(batch_id) -> None:
    batch = Batch.objects.get(id=batch_id)
    Batch.objects.filter(id=batch_id).update(summary=batch_build_summary(batch=batch))


def _submit(
    *, user, compiled: CompiledRequest, batch_params: dict, strategy=None, version: int | None = None
) -> BacktestRun:
    """Save one run of the batch, QUEUED and not sent (or answered from the result cache); it
    records the saved strategy and version the batch sweeps, if any."""
    run = backtest_submit(user=user, compiled=compiled, dispatch=False, strategy=strategy, strategy_version=version)
    run.batch_params = batch_params
    return run


def _attach(runs: list[BacktestRun], batch: Batch) -> list:
    """Link new runs to the batch. Returns the ids of the QUEUED ones (to send)."""
    to_send = []
    for run in runs:
        run.batch = batch
        if run.status == RunStatus.QUEUED:
            to_send.append(run.id)
    BacktestRun.objects.bulk_update(runs, ["batch", "batch_params"], batch_size=500)
    return to_send


def batch_dispatch(*, batch_id, run_ids: list) -> bool:
    """Hand the batch's new runs to the per-user dispatcher of backtests: at most the owner's
    plan's number of runs stand in the broker at once, so a batch of thousands never delays
    another user's run (fair queues); each run that finishes sends the owner's next one and
    advances its batch (backtests sends ``batches.tasks.batch_run_finished`` by name). With no
    runs to send the batch is advanced at once. Returns False when the broker is down: the runs
    wait in the outbox, whose beat sweep sends them, and the batch sweep finishes the batch."""
    if not run_ids:
        try:
            current_app.send_task(ADVANCE_TASK, args=[str(batch_id)], ignore_result=True)
        except Exception:  # kombu raises OperationalError and friends when the broker is down
            logger.warning("broker unavailable: the batch sweep will advance it", extra={"run_id": f"batch:{batch_id}"})
            return False
        return True
    owner_id = Batch.objects.filter(id=batch_id).values_list("owner_id", flat=True).first()
    backtest_dispatch_waiting(owner_id=owner_id)
    waiting = BacktestRun.objects.filter(id__in=run_ids, status=RunStatus.QUEUED, dispatched_at__isnull=True)
    return len(run_ids) > waiting.count() or not backtest_has_room(owner_id=owner_id)


# ---- advance & finalise -----------------------------------------------------------------------


def batch_advance(*, batch_id) -> str:
    """Move a batch on according to its runs; safe to call any number of times, concurrently.

    Walk-forward: every window whose in-sample runs are all final gets its out-of-sample run
    (the best eligible combination on the following window); a window with no eligible
    combination is recorded as such. When every run is final the summary is built, once.
    Returns the batch's status, or WAITING when runs are still in flight and nothing new
    was sent (an advance task then looks again shortly)."""
    new_run_ids: list = []
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(id=batch_id).first()
        if batch is None:
            return "MISSING"
        if batch.is_final or batch.stage == BatchStage.CREATING:
            return batch.status  # still creating: batch_create_runs advances it when every run exists
        if batch.mode == BatchMode.WALK_FORWARD:
            new_run_ids = _walk_forward_step(batch)
        counts = dict(batch.runs.values_list("status").annotate(n=Count("id")).order_by())
        in_flight = sum(counts.get(s, 0) for s in PENDING)
        windows_open = batch.mode == BatchMode.WALK_FORWARD and any(
            w["state"] in (IN_SAMPLE, OUT_OF_SAMPLE) for w in batch.windows or []
        )
        if in_flight == 0 and not windows_open:
            status = BatchStatus.SUCCEEDED if counts.get(RunStatus.SUCCEEDED) else BatchStatus.FAILED
            _finalise(batch, status)
            return status
        if new_run_ids:
            transaction.on_commit(lambda: batch_dispatch(batch_id=batch_id, run_ids=new_run_ids))
            return batch.status
        return WAITING if counts.get(RunStatus.QUEUED, 0) == 0 else batch.status


def _walk_forward_step(batch: Batch) -> list:
    """Create the out-of-sample runs of windows whose in-sample grid is final; close windows
    whose out-of-sample run is final. Returns the ids of new runs to send."""
    in_flight: dict[int, bool] = {}
    oos_final: dict[int, bool] = {}
    for status, info in batch.runs.values_list("status", "batch_params"):
        k = (info or {}).get("window")
        if (info or {}).get("phase") == OUT_OF_SAMPLE:
            oos_final[k] = status not in PENDING
        else:
            in_flight[k] = in_flight.get(k, False) or status in PENDING
    windows = batch.windows
    ready = [w for w in windows if w["state"] == IN_SAMPLE and not in_flight.get(w["index"], False)]
    in_sample: dict[int, list[dict]] = {}
    if ready:  # read the results only when a window can be decided
        for row in selectors.batch_result_rows(batch=batch):
            if row["phase"] != OUT_OF_SAMPLE:
                in_sample.setdefault(row["window"], []).append(row)
    new_runs = []
    for window in windows:
        if window in ready:
            run = _out_of_sample_run(batch, window, in_sample.get(window["index"], []))
            if run is not None:
                new_runs.append(run)
        elif window["state"] == OUT_OF_SAMPLE and oos_final.get(window["index"]):
            window["state"] = "done"
    to_send = _attach(new_runs, batch) if new_runs else []
    Batch.objects.filter(id=batch.id).update(windows=windows)
    batch.windows = windows
    return to_send


def _out_of_sample_run(batch: Batch, window: dict, rows: list[dict]) -> BacktestRun | None:
    """A window's in-sample grid is final: submit the best eligible combination on the
    window's out-of-sample span, or record that there is none. Updates ``window``."""
    objective = parse_objective(batch.definition.get("objective"))
    constraints = parse_constraints(batch.definition.get("constraints"))
    best = pick_best(selectors.score_rows(rows, objective, constraints))
    if best is None:
        window.update(
            state="no_result", best=None, note="no in-sample combination met the constraints with a defined objective"
        )
        return None
    request = BacktestRun.objects.only("request").get(id=best["run_id"]).request
    compiled = combination_compile(
        user=batch.owner, body=window_body(request, window["oos_start"], window["oos_end"]), params=best["params"]
    )
    info = {"combination": best["combination"], "params": best["params"], "window": window["index"]}
    run = _submit(
        user=batch.owner,
        compiled=compiled,
        batch_params=dict(info, phase=OUT_OF_SAMPLE),
        strategy=batch.strategy,
        version=batch.strategy_version,
    )
    window.update(
        state=OUT_OF_SAMPLE if run.status in PENDING else "done",
        oos_run_id=str(run.id),
        best={k: best[k] for k in ("run_id", "params", "score", "combination")},
    )
    return run


def _finalise(batch: Batch, status: str) -> None:
    """Build the summary and record the final status (the caller holds the batch's row lock)."""
    summary = batch_build_summary(batch=batch)
    drift, alert = batch_measure_drift(batch=batch, summary=summary) if batch.schedule_id else (None, False)
    changed = Batch.objects.filter(id=batch.id, status=BatchStatus.RUNNING).update(
        status=status, summary=summary, drift=drift, drift_alert=alert, finished_at=timezone.now()
    )
    if changed:
        logger.info("batch finished: %s", status, extra={"run_id": f"batch:{batch.id}"})
        if settings.QM_BATCH_RENDER_PDF:
            batch_id = batch.id
            transaction.on_commit(lambda: batch_report_dispatch(batch_id=batch_id))


def batch_sweep() -> int:
    """Advance every running batch (beat): the backstop for advance messages that never came."""
    advanced = 0
    for batch_id in Batch.objects.filter(status=BatchStatus.RUNNING).values_list("id", flat=True):
        try:
            batch_advance(batch_id=batch_id)
            advanced += 1
        except Exception:
            logger.exception("could not advance a batch", extra={"run_id": f"batch:{batch_id}"})
    return advanced


# ---- cancel -----------------------------------------------------------------------------------


def batch_cancel(*, batch: Batch) -> Batch:
    """Cancel a running batch: its QUEUED and RUNNING runs are cancelled (a running worker
    stops at its next progress write); runs already final keep their results, which the
    summary lists. 409 INVALID_STATE for a final batch."""
    with transaction.atomic():
        moved = Batch.objects.filter(id=batch.id, status=BatchStatus.RUNNING).update(
            status=BatchStatus.CANCELLED, finished_at=timezone.now()
        )
    if not moved:
        batch.refresh_from_db()
        raise CodedError(
            "INVALID_STATE",
            f"the batch is {batch.status}; only a RUNNING batch can be cancelled",
            details={"status": batch.status},
        )
    backtest_cancel_batch_runs(batch_id=batch.id)  # one update, whatever the batch's size
    Batch.objects.filter(id=batch.id).update(summary=batch_build_summary(batch=batch))
    batch.refresh_from_db()
    logger.info("batch cancelled", extra={"run_id": f"batch:{batch.id}"})
    return batch
