"""Writes for batches and schedules: plan, create, dispatch, advance, finalise, cancel, report,
and the schedules that fire batches.

A batch is a set of ordinary BacktestRuns (``run.batch``), created QUEUED without the
per-run dispatch and sent as one Celery chord: a group of ``run_backtest_task`` signatures
with ``batch_advance_task`` as the callback. The database, not the chord, decides when a
batch is done: :func:`batch_advance` looks at its runs under a row lock and moves the batch
on (walk-forward: creates the out-of-sample runs of every window whose in-sample grid is
final; then builds the summary exactly once). It is called by the chord callback, by a beat
sweep (a callback that never came: a run task that gave up, a broker restart) and right
after creation when every run was answered from the result cache. So a failed run never
fails the batch, a callback delivered twice changes nothing, and every batch ends.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
import zoneinfo
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from backtests import services as run_services
from backtests.models import BacktestRun, RunStatus, Trade
from backtests.strategies.compile import data_window_from_request
from backtests.strategies.parse import build_strategy
from batches import selectors
from batches.grid import Grid, build_grid
from batches.models import Batch, BatchLimit, BatchMode, BatchStatus, Schedule
from batches.objective import (
    KEY_METRICS,
    Constraints,
    Objective,
    parse_constraints,
    parse_objective,
    pick_best,
)
from batches.stats import deflated_sharpe_ratio, sharpe_per_observation
from batches.walk_forward import (
    Window,
    annualised_return_pct,
    build_windows,
    efficiency,
    finite_or_none,
    stitch,
)
from qm_platform.errors import CodedError

logger = logging.getLogger("qm.batches")

SYMBOL = re.compile(r"^[A-Za-z0-9._\-=^]{1,32}$")
MAX_GRID_SIZE = 10**15  # beyond this even a sample cannot index the grid
PENDING = (RunStatus.QUEUED, RunStatus.RUNNING)
IN_SAMPLE, OUT_OF_SAMPLE = "in_sample", "out_of_sample"
WAITING = "WAITING"  # batch_advance: runs still in flight, nothing was dispatched


# ---- planning ---------------------------------------------------------------------------------


@dataclass
class BatchPlan:
    """A validated batch request: what to run, and how to judge it."""

    mode: str
    name: str
    base_body: dict
    grid: Grid
    indices: list[int]
    objective: Objective
    constraints: Constraints
    windows: list[Window] = field(default_factory=list)
    definition: dict = field(default_factory=dict)
    # The shape-checked body when expanding the request changes nothing (plain V4): every
    # combination is then this body with its values written in, and the engine's strategy
    # builder (in backtest_submit) checks each one.
    plain_body: dict | None = None

    def combination_body(self, index: int) -> tuple[dict, dict]:
        """(parameters, the runnable body) of a combination. Raises CodedError naming
        the combination."""
        params = self.grid.combination(index)
        if self.plain_body is not None:  # V4 as written: the values go straight in
            return params, self.grid.apply(self.plain_body, params)
        try:
            body = _strategy_body(self.grid.apply(self.base_body, params), "strategy")
        except CodedError as exc:
            raise CodedError(
                exc.code, f"combination {params}: {exc.message}", details={**exc.details, "combination": params}
            ) from None
        return params, body

    @property
    def planned_runs(self) -> int:
        if self.mode == BatchMode.WALK_FORWARD:
            return len(self.indices) * len(self.windows) + len(self.windows)
        return len(self.indices)


def batch_limit_for(*, user) -> int:
    """The most runs one batch of this user may create: their BatchLimit, else the setting."""
    override = BatchLimit.objects.filter(user=user).values_list("max_runs", flat=True).first()
    return override if override is not None else settings.QM_BATCH_MAX_RUNS


def _template_body(template_id, overrides: dict | None) -> dict:
    """A template's request body (overrides deep-merged) from the template registry
    (``backtests.templates_registry.get_template_body``); 400 TEMPLATE_NOT_FOUND when the
    template, or the registry itself, does not exist."""
    try:
        registry = importlib.import_module("backtests.templates_registry")
    except ModuleNotFoundError as exc:
        if exc.name != "backtests.templates_registry":
            raise
        registry = None
    lookup = getattr(registry, "get_template_body", None)
    body = lookup(str(template_id), overrides or {}) if lookup else None
    if not isinstance(body, dict):
        raise CodedError(
            "TEMPLATE_NOT_FOUND",
            f"no strategy template with id {template_id!r}",
            details={"field": "template", "template": template_id},
        )
    return body


def _expand(raw: dict) -> dict:
    """A V5 ICT configuration or session filter compiled to the V4 body the engine runs
    (``backtests.strategies.expand_request``); a V4 body comes back as it is."""
    try:
        from backtests.strategies import expand_request
    except ImportError:
        return raw
    return expand_request(raw)


def _strategy_body(raw: dict, field_name: str) -> dict:
    """Expand and shape-check a strategy body with the backtest API's serializer; the
    engine's strategy builder checks its meaning (in backtest_submit)."""
    from backtests.api.serializers import BacktestRequestSerializer

    serializer = BacktestRequestSerializer(data=_expand(raw))
    if not serializer.is_valid():
        from qm_platform.api_errors import _first_problem

        raise CodedError(
            "INVALID_REQUEST",
            f"The request is invalid: {field_name}." + _first_problem(serializer.errors),
            details={"fields": {field_name: serializer.errors}},
        )
    return serializer.body()


def _known_leaf_keys(body: dict, parent_keys, parent) -> set[str]:
    """Keys a grid path may set although the request leaves them out: a module's declared
    parameters (in a ``config``), and the engine's exit and cost keys."""
    from backtests.strategies import parse as engine_strategy

    if parent_keys and parent_keys[-1] == "config":
        node = body
        for key in parent_keys[:-1]:
            node = node[key]
        module_id = node.get("moduleId") if isinstance(node, dict) else None
        try:
            from modules.registry import get_registry

            cls = get_registry().get_module(module_id)
        except Exception:
            return {"operator", "value"}
        return {p.name for p in cls.params} | {"operator", "value"}
    if list(parent_keys) == ["exit"]:
        return set(getattr(engine_strategy, "EXIT_KEYS", ()))
    if list(parent_keys) == ["costs"]:
        return set(getattr(engine_strategy, "COST_KEYS", ()))
    return set()


def _list_of(raw, field_name: str, check, what: str) -> list:
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw or len(raw) > 200:
        raise CodedError(
            "INVALID_REQUEST", f"{field_name} must be a list of 1 to 200 {what}", details={"field": field_name}
        )
    for item in raw:
        if not check(item):
            raise CodedError(
                "INVALID_REQUEST", f"{field_name}: {item!r} is not a valid {what[:-1]}", details={"field": field_name}
            )
    return raw


def batch_plan(*, user, definition: dict) -> BatchPlan:
    """Validate a batch request completely, without creating anything: the strategy (or
    template), every grid path against the request, the markets and timeframes, the sample,
    the objective and constraints, the walk-forward windows, the user's limit, and the
    strategy of the first combination. Raises CodedError (400)."""
    from marketdata.timeframes import TIMEFRAME_SECONDS

    if not isinstance(definition, dict):
        raise CodedError("INVALID_REQUEST", "the batch request must be a JSON object")
    has_strategy, has_template = definition.get("strategy") is not None, definition.get("template") is not None
    if has_strategy == has_template:
        raise CodedError(
            "INVALID_REQUEST",
            "give exactly one of 'strategy' (a request body) or 'template' (a template id)",
            details={"field": "strategy"},
        )
    if has_template:
        raw = _template_body(definition["template"], definition.get("overrides"))
    elif not isinstance(definition["strategy"], dict):
        raise CodedError("INVALID_REQUEST", "strategy must be a request body (object)", details={"field": "strategy"})
    else:
        raw = definition["strategy"]
    # Grid paths point into the request as written (V4 or V5); each combination is expanded.
    raw = {k: v for k, v in raw.items() if k != "template"}
    body = _strategy_body(raw, "template" if has_template else "strategy")
    mode = definition.get("mode", BatchMode.GRID)
    if mode not in BatchMode.values:
        raise CodedError("INVALID_REQUEST", f"mode must be one of {BatchMode.values}", details={"field": "mode"})
    markets = _list_of(
        definition.get("markets"), "markets", lambda m: isinstance(m, str) and SYMBOL.match(m), "symbols"
    )
    timeframes = _list_of(definition.get("timeframes"), "timeframes", lambda t: t in TIMEFRAME_SECONDS, "timeframes")
    grid = build_grid(
        raw, definition.get("grid"), [m.upper() for m in markets], timeframes, known_leaf_keys=_known_leaf_keys
    )
    objective = parse_objective(definition.get("objective"))
    constraints = parse_constraints(definition.get("constraints"))
    if grid.size > MAX_GRID_SIZE:
        raise CodedError(
            "GRID_TOO_LARGE",
            f"the grid has {grid.size:.3g} combinations; sample from a smaller one",
            details={"combinations": grid.size},
        )
    sample = definition.get("sample")
    if sample is not None:
        if (
            not isinstance(sample, dict)
            or isinstance(sample.get("n"), bool)
            or not isinstance(sample.get("n"), int)
            or sample["n"] < 1
            or isinstance(sample.get("seed", 0), bool)
            or not isinstance(sample.get("seed", 0), int)
            or set(sample) - {"n", "seed"}
        ):
            raise CodedError(
                "INVALID_REQUEST",
                'sample must be {"n": <positive integer>, "seed": <integer>}',
                details={"field": "sample"},
            )
    windows: list[Window] = []
    if mode == BatchMode.WALK_FORWARD:
        raw_wf = definition.get("walkForward")
        if not isinstance(raw_wf, dict) or set(raw_wf) - {"inSample", "outOfSample", "step", "anchored"}:
            raise CodedError(
                "INVALID_WALK_FORWARD",
                'walkForward must be {"inSample": "6mo", "outOfSample": "2mo", "step": "2mo", "anchored": false}',
                details={"field": "walkForward"},
            )
        window = data_window_from_request(body)
        windows = build_windows(
            window.start,
            window.end,
            in_sample=raw_wf.get("inSample"),
            out_of_sample=raw_wf.get("outOfSample"),
            step=raw_wf.get("step"),
            anchored=bool(raw_wf.get("anchored", False)),
        )
    elif definition.get("walkForward") is not None:
        raise CodedError(
            "INVALID_REQUEST", 'walkForward needs "mode": "walk_forward"', details={"field": "walkForward"}
        )
    plan = BatchPlan(
        mode=mode,
        name=str(definition.get("name") or "")[:200],
        base_body=raw,
        grid=grid,
        indices=[],
        objective=objective,
        constraints=constraints,
        windows=windows,
    )
    per_combination = len(windows) or 1
    requested = min(sample["n"], grid.size) if sample else grid.size
    planned = requested * per_combination + len(windows)
    limit = batch_limit_for(user=user)
    if planned > limit:
        raise CodedError(
            "GRID_TOO_LARGE",
            f"this batch would create {planned:,} runs ({grid.size:,} combinations"
            f"{f', {requested:,} sampled' if sample else ''}{f' × {len(windows)} windows' if windows else ''}); "
            f"your limit is {limit:,} runs per batch. Narrow the grid or sample it with "
            f'"sample": {{"n": N, "seed": 1}}.',
            details={"combinations": grid.size, "runs": planned, "limit": limit},
        )
    plan.indices = grid.indices(sample)
    if (
        _expand(raw) == {k: v for k, v in raw.items() if k != "kind"}
        and body == {k: v for k, v in raw.items() if k in body}
        and all(k[0] in body for k in grid.keys)
    ):
        plan.plain_body = body
    build_strategy(plan.combination_body(plan.indices[0])[1])
    plan.definition = {k: v for k, v in definition.items() if k not in ("strategy", "overrides")}
    plan.definition["strategy"] = raw
    plan.definition["objective_resolved"] = objective.as_dict()
    return plan


# ---- create & dispatch ------------------------------------------------------------------------


def _submit_one(*, user, body: dict, params: dict) -> BacktestRun:
    try:
        return run_services.backtest_submit(user=user, body=body, dispatch=False)
    except CodedError as exc:
        raise CodedError(
            exc.code,
            f"combination {params}: {exc.message}",
            details={**exc.details, "combination": params},
            status_code=exc.status_code,
        ) from None


def _window_body(body: dict, start, end) -> dict:
    out = dict(body)
    ctx = {k: v for k, v in body["marketContext"].items() if k != "testPeriod"}
    ctx["startDate"], ctx["endDate"] = pd.Timestamp(start).isoformat(), pd.Timestamp(end).isoformat()
    out["marketContext"] = ctx
    return out


def _attach(runs: list[BacktestRun], batch: Batch) -> list:
    """Link new runs to the batch and mark the QUEUED ones as handed to the batch's chord (so
    the single-run outbox leaves them alone). Returns the ids to send."""
    now = timezone.now()
    to_send = []
    for run in runs:
        run.batch = batch
        if run.status == RunStatus.QUEUED:
            run.dispatched_at = now
            to_send.append(run.id)
    BacktestRun.objects.bulk_update(runs, ["batch", "batch_params", "dispatched_at"], batch_size=500)
    return to_send


def batch_create(
    *, user, definition: dict, schedule: Schedule | None = None, warnings: list[str] | None = None
) -> Batch:
    """Validate the request (see :func:`batch_plan`), then create the batch and all its runs
    in one transaction (an invalid combination creates nothing) and send the runs when it
    commits. Runs answered from the result cache are SUCCEEDED already and are not sent; if
    nothing needs sending the batch is advanced (and finished) at once."""
    plan = batch_plan(user=user, definition=definition)
    with transaction.atomic():
        batch = Batch.objects.create(
            owner=user,
            schedule=schedule,
            name=plan.name,
            mode=plan.mode,
            definition=plan.definition,
            combination_count=len(plan.indices),
            planned_runs=plan.planned_runs,
            warnings=list(warnings or []),
            windows=[dict(w.as_dict(), state=IN_SAMPLE) for w in plan.windows] or None,
        )
        runs = []
        if plan.mode == BatchMode.GRID:
            for index in plan.indices:
                params, body = plan.combination_body(index)
                run = _submit_one(user=user, body=body, params=params)
                run.batch_params = {"combination": index, "params": params}
                runs.append(run)
        else:
            for index in plan.indices:
                params, combination = plan.combination_body(index)
                for window in plan.windows:
                    body = _window_body(combination, window.is_start, window.is_end)
                    run = _submit_one(user=user, body=body, params=params)
                    run.batch_params = {
                        "combination": index,
                        "params": params,
                        "window": window.index,
                        "phase": IN_SAMPLE,
                    }
                    runs.append(run)
        to_send = _attach(runs, batch)
        batch_id = batch.id
        transaction.on_commit(lambda: batch_dispatch(batch_id=batch_id, run_ids=to_send))
    logger.info(
        "batch created: %d runs (%d to run, %d cached)",
        len(runs),
        len(to_send),
        len(runs) - len(to_send),
        extra={"run_id": f"batch:{batch.id}"},
    )
    return batch


def batch_dispatch(*, batch_id, run_ids: list) -> bool:
    """Send runs as a chord whose callback advances the batch (no runs: just the callback).
    If the broker is down the runs are handed back to the single-run outbox and the beat
    sweep finishes the batch."""
    from celery import chord

    from backtests.tasks import run_backtest_task
    from batches.tasks import batch_advance_task

    callback = batch_advance_task.si(str(batch_id))
    try:
        if run_ids:
            chord([run_backtest_task.signature((str(run_id),), ignore_result=False) for run_id in run_ids])(callback)
        else:
            callback.apply_async()
    except Exception:  # kombu raises OperationalError and friends when the broker is down
        logger.warning(
            "broker unavailable: %d batch runs left to the outbox", len(run_ids), extra={"run_id": f"batch:{batch_id}"}
        )
        BacktestRun.objects.filter(id__in=run_ids, status=RunStatus.QUEUED).update(dispatched_at=None)
        return False
    return True


# ---- advance & finalise -----------------------------------------------------------------------


def batch_advance(*, batch_id) -> str:
    """Move a batch on according to its runs; safe to call any number of times, concurrently.

    Walk-forward: every window whose in-sample runs are all final gets its out-of-sample run
    (the best eligible combination on the following window); a window with no eligible
    combination is recorded as such. When every run is final the summary is built, once.
    Returns the batch's status, or WAITING when runs are still in flight and nothing new
    was sent (the chord callback then looks again shortly)."""
    new_run_ids: list = []
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(id=batch_id).first()
        if batch is None:
            return "MISSING"
        if batch.is_final:
            return batch.status
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
    by_window: dict[int, list[dict]] = {}
    if ready:  # read the results only when a window can be decided
        for row in selectors.batch_result_rows(batch=batch):
            if row["phase"] != OUT_OF_SAMPLE:
                by_window.setdefault(row["window"], []).append(row)
    objective = parse_objective(batch.definition.get("objective"))
    constraints = parse_constraints(batch.definition.get("constraints"))
    new_runs = []
    for window in windows:
        k = window["index"]
        if window in ready:
            in_sample = selectors.score_rows(by_window.get(k, []), objective, constraints)
            best = pick_best(in_sample)
            if best is None:
                window.update(
                    state="no_result",
                    best=None,
                    note="no in-sample combination met the constraints with a defined objective",
                )
                continue
            body = _window_body(
                BacktestRun.objects.only("request").get(id=best["run_id"]).request,
                window["oos_start"],
                window["oos_end"],
            )
            run = _submit_one(user=batch.owner, body=body, params=best["params"])
            run.batch_params = {
                "combination": best["combination"],
                "params": best["params"],
                "window": k,
                "phase": OUT_OF_SAMPLE,
            }
            new_runs.append(run)
            window.update(
                state=OUT_OF_SAMPLE if run.status in PENDING else "done",
                oos_run_id=str(run.id),
                best={
                    "run_id": best["run_id"],
                    "params": best["params"],
                    "score": best["score"],
                    "combination": best["combination"],
                },
            )
        elif window["state"] == OUT_OF_SAMPLE and oos_final.get(k):
            window["state"] = "done"
    to_send = _attach(new_runs, batch) if new_runs else []
    Batch.objects.filter(id=batch.id).update(windows=windows)
    batch.windows = windows
    return to_send


def _finalise(batch: Batch, status: str) -> None:
    """Build the summary and record the final status (the caller holds the batch's row lock)."""
    summary = batch_build_summary(batch=batch)
    drift, alert = _drift(batch, summary) if batch.schedule_id else (None, False)
    changed = Batch.objects.filter(id=batch.id, status=BatchStatus.RUNNING).update(
        status=status, summary=summary, drift=drift, drift_alert=alert, finished_at=timezone.now()
    )
    if changed:
        logger.info("batch finished: %s", status, extra={"run_id": f"batch:{batch.id}"})
        if settings.QM_BATCH_RENDER_PDF:
            batch_id = batch.id
            transaction.on_commit(lambda: batch_report_dispatch(batch_id=batch_id))


def batch_build_summary(*, batch: Batch) -> dict:
    """Counts, the best run by the objective under the constraints, the Deflated Sharpe Ratio
    of the best run given the number of trials, the objective's distribution, failed runs,
    and for walk-forward the stitched out-of-sample result."""
    definition = batch.definition
    objective = parse_objective(definition.get("objective"))
    constraints = parse_constraints(definition.get("constraints"))
    rows = selectors.batch_result_rows(batch=batch)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    summary = {
        "objective": objective.as_dict(),
        "constraints": constraints.as_dict(),
        "runs": {"total": len(rows), "cached": sum(1 for r in rows if r["cached"]), **counts},
        "failed_runs": [
            {"run_id": r["run_id"], "params": r["params"], "window": r.get("window"), "error": r["error"]}
            for r in rows
            if r["status"] == RunStatus.FAILED
        ][:200],
    }
    if batch.mode == BatchMode.WALK_FORWARD:
        summary["walk_forward"] = _walk_forward_summary(batch, rows)
        return summary
    selectors.score_rows(rows, objective, constraints)
    best = pick_best(rows)
    scored = [r["score"] for r in rows if r["score"] is not None]
    summary["objective_distribution"] = _distribution(scored)
    summary["eligible_runs"] = sum(1 for r in rows if r["eligible"] and r["score"] is not None)
    summary["best"] = (
        None if best is None else {k: best[k] for k in ("run_id", "params", "score", "metrics", "combination")}
    )
    summary["dsr"] = _dsr(rows, best) if best else None
    return summary


def _distribution(values: list[float]) -> dict | None:
    if not values:
        return None
    arr = np.asarray(values, dtype=np.float64)
    return {
        "count": int(len(arr)),
        "min": float(arr.min()),
        "p25": float(np.percentile(arr, 25)),
        "median": float(np.median(arr)),
        "p75": float(np.percentile(arr, 75)),
        "max": float(arr.max()),
        "mean": float(arr.mean()),
    }


def _trade_returns(run_ids: list[str]) -> dict[str, np.ndarray]:
    """Per-trade returns (net pnl_pct / 100) of each run; a cached run reads the trades of
    the run it was answered from."""
    source = dict(BacktestRun.objects.filter(id__in=run_ids).values_list("id", "cache_source_id"))
    owner_of = {str(src or rid): [] for rid, src in source.items()}
    for rid, src in source.items():
        owner_of[str(src or rid)].append(str(rid))
    returns: dict[str, list] = {str(rid): [] for rid in source}
    for run_id, pnl_pct in (
        Trade.objects.filter(run_id__in=list(owner_of))
        .order_by("run_id", "seq")
        .values_list("run_id", "pnl_pct")
        .iterator(chunk_size=20_000)
    ):
        for rid in owner_of[str(run_id)]:
            returns[rid].append(pnl_pct / 100.0)
    return {rid: np.asarray(values, dtype=np.float64) for rid, values in returns.items()}


def _dsr(rows: list[dict], best: dict) -> dict | None:
    """Deflated Sharpe Ratio of the best run; the trials are the succeeded runs."""
    succeeded = [r["run_id"] for r in rows if r["status"] == RunStatus.SUCCEEDED]
    returns = _trade_returns(succeeded)
    trial_sharpes = [sharpe_per_observation(r) for r in returns.values()]
    result = deflated_sharpe_ratio(returns.get(best["run_id"], np.zeros(0)), trial_sharpes)
    if result is None:
        return {
            "dsr": None,
            "note": "the best run has fewer than two trades or constant returns",
            "trials": len(succeeded),
            "best_sharpe_annualised": best["metrics"].get("sharpe"),
        }
    result["best_sharpe_annualised"] = best["metrics"].get("sharpe")
    result["basis"] = "per-trade returns (net pnl_pct / 100)"
    return result


def _walk_forward_summary(batch: Batch, rows: list[dict]) -> dict:
    """Per window: the chosen parameters, in-sample and out-of-sample results; overall: the
    stitched out-of-sample equity and metrics, and walk-forward efficiency."""
    by_id = {r["run_id"]: r for r in rows}
    capital = float(batch.definition["strategy"].get("initialCapital") or 0) or None
    windows_out, is_annual, oos_runs = [], [], []
    for window in batch.windows or []:
        best = window.get("best") or {}
        is_row = by_id.get(best.get("run_id"))
        oos_row = by_id.get(window.get("oos_run_id"))
        is_days = (pd.Timestamp(window["is_end"]) - pd.Timestamp(window["is_start"])).total_seconds() / 86400
        oos_days = (pd.Timestamp(window["oos_end"]) - pd.Timestamp(window["oos_start"])).total_seconds() / 86400
        is_ann = annualised_return_pct(is_row["metrics"].get("net_return_pct"), is_days) if is_row else None
        oos_ok = oos_row is not None and oos_row["status"] == RunStatus.SUCCEEDED
        oos_ann = annualised_return_pct(oos_row["metrics"].get("net_return_pct"), oos_days) if oos_ok else None
        windows_out.append(
            {
                "index": window["index"],
                "is_start": window["is_start"],
                "is_end": window["is_end"],
                "oos_start": window["oos_start"],
                "oos_end": window["oos_end"],
                "state": window["state"],
                "params": best.get("params"),
                "is_run_id": best.get("run_id"),
                "is_score": best.get("score"),
                "is_metrics": _key_metrics(is_row["metrics"]) if is_row else None,
                "is_annualised_return_pct": is_ann,
                "oos_run_id": window.get("oos_run_id"),
                "oos_status": oos_row["status"] if oos_row else None,
                "oos_metrics": _key_metrics(oos_row["metrics"]) if oos_ok else None,
                "oos_annualised_return_pct": oos_ann,
                "efficiency": efficiency(oos_ann, is_ann),
                "note": window.get("note", ""),
            }
        )
        if is_ann is not None:
            is_annual.append(is_ann)
        if oos_ok:
            oos_runs.append((window, oos_row["run_id"]))
    segments = _oos_segments(oos_runs)
    if capital is None:
        capital = segments[0]["initial_capital"] if segments else 10_000.0
    trades, equity = stitch(segments, capital)
    oos_metrics = _metrics_of(trades, equity, capital) if len(equity) else None
    span_days = (
        ((pd.Timestamp(windows_out[-1]["oos_end"]) - pd.Timestamp(windows_out[0]["oos_start"])).total_seconds() / 86400)
        if windows_out
        else 0
    )
    oos_total = (float(equity.iloc[-1]) / capital - 1) * 100 if len(equity) else None
    oos_annualised = annualised_return_pct(oos_total, span_days) if oos_runs else None
    mean_is = float(np.mean(is_annual)) if is_annual else None
    return {
        "windows": windows_out,
        "anchored": bool(batch.definition["walkForward"].get("anchored", False)),
        "oos_net_return_pct": oos_total,
        "oos_annualised_return_pct": oos_annualised,
        "is_annualised_return_pct_mean": mean_is,
        "efficiency": efficiency(oos_annualised, mean_is),
        "oos_metrics": oos_metrics,
        "oos_trade_count": int(len(trades)),
        "oos_equity_curve": _downsample(equity),
    }


def _downsample(equity: pd.Series, points: int = 600) -> list[list]:
    """At most ~``points`` [iso time, equity] pairs, the last point always kept."""
    positions = list(range(0, len(equity), max(1, len(equity) // points)))
    if positions and positions[-1] != len(equity) - 1:
        positions.append(len(equity) - 1)
    return [[ts.isoformat(), round(float(v), 6)] for ts, v in equity.iloc[positions].items()]


def _key_metrics(metrics: dict) -> dict:
    return {k: metrics.get(k) for k in KEY_METRICS}


def _oos_segments(oos_runs: list[tuple[dict, str]]) -> list[dict]:
    segments = []
    for window, run_id in oos_runs:
        run = BacktestRun.objects.only("id", "cache_source_id", "metrics").get(id=run_id)
        trades = list(
            Trade.objects.filter(run_id=run.cache_source_id or run.id)
            .order_by("seq")
            .values("entry_time", "exit_time", "pnl", "pnl_pct", "r_multiple", "direction", "bars_held", "fees")
        )
        initial = (run.metrics or {}).get("initial_capital") or 10_000.0
        segments.append(
            {"start": window["oos_start"], "end": window["oos_end"], "initial_capital": initial, "trades": trades}
        )
    return segments


def _metrics_of(trades: pd.DataFrame, equity: pd.Series, capital: float) -> dict:
    """Out-of-sample metrics of the stitched account (backtests.engine.metrics, the same definitions
    as a single run's; Sharpe and Sortino on the equity at trade exits)."""
    from backtests.engine.metrics import compute_all

    try:
        return compute_all(trades if len(trades) else pd.DataFrame({"pnl": []}), equity, capital)
    except Exception:  # the metrics module is shared; a change there must not lose the batch
        logger.exception("out-of-sample metrics failed; reporting the basics")
        pnl = trades["pnl"].to_numpy() if len(trades) else np.zeros(0)
        return {
            "trade_count": int(len(pnl)),
            "net_return_pct": (float(equity.iloc[-1]) / capital - 1) * 100,
            "win_rate": float((pnl > 0).mean() * 100) if len(pnl) else None,
        }


def _drift(batch: Batch, summary: dict) -> tuple[dict | None, bool]:
    """Compare the best run's metrics with those of the previous finished batch of the same
    schedule; a drop beyond ``QM_BATCH_DRIFT_THRESHOLDS`` raises the alert."""
    previous = (
        Batch.objects.filter(
            schedule_id=batch.schedule_id, status=BatchStatus.SUCCEEDED, created_at__lt=batch.created_at
        )
        .exclude(id=batch.id)
        .order_by("-created_at")
        .only("id", "summary", "mode")
        .first()
    )
    if previous is None:
        return None, False
    current, before = _headline_metrics(summary), _headline_metrics(previous.summary or {})
    if current is None or before is None:
        return {"previous_batch": str(previous.id), "metrics": {}, "note": "no best run to compare"}, False
    metrics, alert = {}, False
    for name, threshold in settings.QM_BATCH_DRIFT_THRESHOLDS.items():
        now_value, old_value = finite_or_none(current.get(name)), finite_or_none(before.get(name))
        change = None if now_value is None or old_value is None else now_value - old_value
        dropped = change is not None and change < -threshold
        alert |= dropped
        metrics[name] = {
            "previous": old_value,
            "current": now_value,
            "change": change,
            "threshold": threshold,
            "alert": dropped,
        }
    return {"previous_batch": str(previous.id), "metrics": metrics}, alert


def _headline_metrics(summary: dict) -> dict | None:
    """The metrics drift compares: the best run's (grid), the stitched out-of-sample (walk-forward)."""
    if summary.get("walk_forward"):
        return summary["walk_forward"].get("oos_metrics")
    best = summary.get("best")
    return best.get("metrics") if best else None


def batch_sweep() -> int:
    """Advance every running batch (beat): the backstop for chord callbacks that never came."""
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
    for run in BacktestRun.objects.filter(batch=batch, status__in=PENDING).only("id", "status"):
        try:
            run_services.backtest_cancel(run=run)
        except CodedError:
            pass  # it finished meanwhile
    Batch.objects.filter(id=batch.id).update(summary=batch_build_summary(batch=batch))
    batch.refresh_from_db()
    logger.info("batch cancelled", extra={"run_id": f"batch:{batch.id}"})
    return batch


# ---- report -----------------------------------------------------------------------------------


def batch_report_dispatch(*, batch_id) -> bool:
    from batches.tasks import render_batch_report_task

    try:
        render_batch_report_task.apply_async(
            args=[str(batch_id)], retry=True, retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
        )
    except Exception:
        logger.warning(
            "broker unavailable for the batch report; render it on request", extra={"run_id": f"batch:{batch_id}"}
        )
        return False
    return True


def batch_render_report(*, batch_id) -> bytes | None:
    """Render the batch report to PDF and store it (``reports/batch-<id>.pdf``). A rendering
    failure is recorded on the batch (``report_error``) and returns None."""
    from batches.report import render_batch_report_html
    from reports.pdf import PdfRenderError, html_to_pdf

    batch = Batch.objects.get(id=batch_id)
    try:
        pdf = html_to_pdf(render_batch_report_html(batch, for_pdf=True), page_format=settings.QM_REPORT_PAGE_SIZE)
    except (PdfRenderError, TimeoutError) as exc:
        logger.warning("batch PDF failed: %s", exc, extra={"run_id": f"batch:{batch_id}"})
        Batch.objects.filter(id=batch_id).update(report_error=str(exc) or type(exc).__name__)
        return None
    key = f"reports/batch-{batch.id}.pdf"
    if default_storage.exists(key):
        default_storage.delete(key)
    default_storage.save(key, ContentFile(pdf))
    Batch.objects.filter(id=batch_id).update(report_key=key, report_error="")
    logger.info(
        "batch report stored (%d bytes, sha256 %s)",
        len(pdf),
        hashlib.sha256(pdf).hexdigest()[:12],
        extra={"run_id": f"batch:{batch_id}"},
    )
    return pdf


# ---- schedules --------------------------------------------------------------------------------

SCHEDULE_TASK = "batches.tasks.fire_schedule"


def _check_when(*, cron: str, interval_seconds: int | None, tz: str) -> None:
    from celery.schedules import crontab

    if bool(cron) == bool(interval_seconds):
        raise CodedError(
            "INVALID_SCHEDULE",
            "give exactly one of 'cron' (e.g. '0 6 * * 1-5') or 'interval_seconds'",
            details={"field": "cron"},
        )
    if cron:
        fields = cron.split()
        if len(fields) != 5:
            raise CodedError(
                "INVALID_SCHEDULE",
                f"cron needs five fields (minute hour day-of-month month day-of-week), got {cron!r}",
                details={"field": "cron"},
            )
        try:
            crontab(*fields)
        except (ValueError, TypeError) as exc:
            raise CodedError("INVALID_SCHEDULE", f"cron {cron!r}: {exc}", details={"field": "cron"}) from None
    elif interval_seconds < 60:
        raise CodedError(
            "INVALID_SCHEDULE", "interval_seconds must be at least 60", details={"field": "interval_seconds"}
        )
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CodedError(
            "INVALID_SCHEDULE",
            f"unknown timezone {tz!r}; use an IANA name such as 'Europe/London'",
            details={"field": "timezone"},
        ) from None


def schedule_create(
    *,
    user,
    name: str,
    definition: dict,
    cron: str = "",
    interval_seconds: int | None = None,
    timezone_name: str = "UTC",
    enabled: bool = True,
) -> Schedule:
    """Validate the batch definition (as a batch request) and the timing, save the schedule
    and its celery-beat PeriodicTask."""
    _check_when(cron=cron, interval_seconds=interval_seconds, tz=timezone_name)
    batch_plan(user=user, definition=definition)
    if Schedule.objects.filter(owner=user, name=name).exists():
        raise CodedError("DUPLICATE_NAME", f"you already have a schedule named {name!r}", details={"field": "name"})
    with transaction.atomic():
        schedule = Schedule.objects.create(
            owner=user,
            name=name,
            definition=definition,
            cron=cron,
            interval_seconds=interval_seconds,
            timezone=timezone_name,
            enabled=enabled,
        )
        schedule_sync(schedule=schedule)
    return schedule


def schedule_update(*, schedule: Schedule, **changes) -> Schedule:
    """Change any of name, definition, cron, interval_seconds, timezone, enabled (switching
    cron ↔ interval clears the other), re-validate and re-sync the PeriodicTask."""
    if "cron" in changes and changes["cron"]:
        changes.setdefault("interval_seconds", None)
    if changes.get("interval_seconds"):
        changes.setdefault("cron", "")
    if "timezone_name" in changes:
        changes["timezone"] = changes.pop("timezone_name")
    for key, value in changes.items():
        setattr(schedule, key, value)
    _check_when(cron=schedule.cron, interval_seconds=schedule.interval_seconds, tz=schedule.timezone)
    if "definition" in changes:
        batch_plan(user=schedule.owner, definition=schedule.definition)
    if Schedule.objects.filter(owner=schedule.owner, name=schedule.name).exclude(id=schedule.id).exists():
        raise CodedError(
            "DUPLICATE_NAME", f"you already have a schedule named {schedule.name!r}", details={"field": "name"}
        )
    with transaction.atomic():
        schedule.save()
        schedule_sync(schedule=schedule)
    return schedule


def schedule_delete(*, schedule: Schedule) -> None:
    with transaction.atomic():
        task = schedule.periodic_task
        schedule.delete()
        if task is not None:
            task.delete()


def schedule_sync(*, schedule: Schedule):
    """Create or update the schedule's PeriodicTask (crontab in the schedule's timezone, or
    an interval) so celery beat fires ``fire_schedule(schedule.id)``."""
    import json

    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    crontab = interval = None
    if schedule.cron:
        minute, hour, day_of_month, month_of_year, day_of_week = schedule.cron.split()
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone=zoneinfo.ZoneInfo(schedule.timezone),
        )
    else:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=schedule.interval_seconds, period=IntervalSchedule.SECONDS
        )
    fields = dict(
        name=f"qm-batch-schedule-{schedule.id}",
        task=SCHEDULE_TASK,
        args=json.dumps([schedule.id]),
        crontab=crontab,
        interval=interval,
        enabled=schedule.enabled,
        description=f"QuantMetrics batch schedule {schedule.name!r} of {schedule.owner}",
    )
    task = schedule.periodic_task
    if task is None:
        task = PeriodicTask.objects.filter(name=fields["name"]).first()
    if task is None:
        task = PeriodicTask.objects.create(**fields)
    else:
        for key, value in fields.items():
            setattr(task, key, value)
        task.save()
    if schedule.periodic_task_id != task.id:
        Schedule.objects.filter(id=schedule.id).update(periodic_task=task)
        schedule.periodic_task = task
    return task


def _refresh_data(definition: dict, body: dict) -> list[str]:
    """Bring the stored data the batch will read up to date (provider series only), so a
    scheduled batch measures the strategy on fresh bars. Returns warnings, never raises."""
    from marketdata.services import get_data_manager

    ctx = body.get("marketContext", {})
    source = ctx.get("dataSource", settings.QM_DEFAULT_DATA_SOURCE)
    if not isinstance(source, str) or source.isdigit():
        return []  # an uploaded dataset has nothing to refresh
    warnings = []
    manager = get_data_manager()
    for market in definition.get("markets") or [ctx.get("market")]:
        for timeframe in definition.get("timeframes") or [ctx.get("timeframe")]:
            try:
                manager.refresh(str(market).upper(), timeframe, source)
            except Exception as exc:
                warnings.append(f"could not refresh {market} {timeframe} from {source}: {exc}")
    return warnings


def schedule_fire(*, schedule_id) -> Batch | None:
    """Celery beat fired a schedule: refresh the data it needs and create its batch. A
    definition that no longer validates is recorded on the schedule (``last_error``)."""
    schedule = Schedule.objects.select_related("owner").filter(id=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return None
    Schedule.objects.filter(id=schedule.id).update(last_fired_at=timezone.now())
    try:
        plan = batch_plan(user=schedule.owner, definition=schedule.definition)
        warnings = _refresh_data(schedule.definition, plan.base_body)
        definition = dict(schedule.definition, name=schedule.definition.get("name") or schedule.name)
        batch = batch_create(user=schedule.owner, definition=definition, schedule=schedule, warnings=warnings)
    except CodedError as exc:
        Schedule.objects.filter(id=schedule.id).update(last_error=f"{exc.code}: {exc.message}")
        logger.warning("schedule %s could not create its batch: %s", schedule.id, exc.message)
        return None
    Schedule.objects.filter(id=schedule.id).update(last_error="")
    return batch
