"""Reads for batches and schedules. A batch belongs to its owner: other users see nothing
(404, not 403). The results table is read from the runs themselves, so it is live while the
batch runs and the same afterwards."""

from __future__ import annotations

import math

from django.conf import settings
from django.db.models import Case, Count, F, IntegerField, QuerySet, Sum, When
from django.utils import timezone

from backtests.models import FINAL_STATUSES, BacktestRun, RunStatus
from batches.models import Batch, BatchLimit, BatchMode, Schedule
from batches.objective import KEY_METRICS, Constraints, Objective, parse_constraints, parse_objective, scores


def batch_list_for_user(*, user) -> QuerySet[Batch]:
    return Batch.objects.filter(owner=user).select_related("schedule").order_by("-created_at")


def batch_get_for_user(*, user, batch_id) -> Batch | None:
    return Batch.objects.filter(owner=user, id=batch_id).select_related("schedule").first()


def batch_limit_for_user(*, user) -> int:
    """The most runs one batch of this user may create: their BatchLimit, else the setting."""
    override = BatchLimit.objects.filter(user=user).values_list("max_runs", flat=True).first()
    return override if override is not None else settings.QM_BATCH_MAX_RUNS


def batch_limit_is_granted(*, user) -> bool:
    """Whether an admin set this user's own batch ceiling (it then overrides the plan's)."""
    return BatchLimit.objects.filter(user=user).exists()


def batch_run_counts(*, batch: Batch) -> dict[str, int]:
    """Runs by status (every status present, zeros included) and how many came from the cache."""
    counts = dict.fromkeys(RunStatus.values, 0)
    for status, n in batch.runs.values_list("status").annotate(n=Count("id")).order_by():
        counts[status] = n
    counts["cached"] = batch.runs.filter(cached=True).count()
    return counts


def batch_progress(*, batch: Batch, counts: dict[str, int]) -> dict:
    """Aggregate progress in percent over the planned runs (a final run counts 100) and an
    ETA in seconds from the pace of the runs that actually ran (cached ones took no time)."""
    planned = max(batch.planned_runs, 1)
    total = (
        batch.runs.aggregate(
            total=Sum(
                Case(When(status__in=FINAL_STATUSES, then=100), default=F("progress"), output_field=IntegerField())
            )
        )["total"]
        or 0
    )
    progress = 100.0 if batch.is_final else min(99.9, total / planned)
    final = sum(counts.get(s, 0) for s in FINAL_STATUSES)
    ran = final - counts.get("cached", 0)
    remaining = max(batch.planned_runs - final, 0)
    eta = None
    if not batch.is_final and ran > 0:
        elapsed = (timezone.now() - batch.created_at).total_seconds()
        eta = round(elapsed / ran * remaining, 1)
    elif batch.is_final:
        eta = 0.0
    return {"progress": round(progress, 1), "eta_seconds": eta}


def batch_result_rows(*, batch: Batch) -> list[dict]:
    """One row per run: parameters, status, every metric (``metrics``), error; unscored."""
    rows = []
    query = BacktestRun.objects.filter(batch=batch).values(
        "id",
        "status",
        "cached",
        "batch_params",
        "metrics",
        "error_code",
        "error_message",
        "started_at",
        "finished_at",
        "market",
        "timeframe",
    )
    for run in query.iterator(chunk_size=2000):
        info = run["batch_params"] or {}
        duration = (
            (run["finished_at"] - run["started_at"]).total_seconds()
            if run["finished_at"] and run["started_at"]
            else None
        )
        metrics = dict(run["metrics"] or {})
        metrics.pop("strategy_text", None)
        rows.append(
            {
                "run_id": str(run["id"]),
                "status": run["status"],
                "cached": run["cached"],
                "combination": info.get("combination", 0),
                "params": info.get("params", {}),
                "window": info.get("window"),
                "phase": info.get("phase"),
                "market": run["market"],
                "timeframe": run["timeframe"],
                "metrics": metrics,
                "duration_seconds": duration,
                "score": None,
                "eligible": False,
                "violations": [],
                "error": ({"code": run["error_code"], "message": run["error_message"]} if run["error_code"] else None),
            }
        )
    rows.sort(key=lambda r: (r["window"] if r["window"] is not None else -1, r["phase"] or "", r["combination"]))
    return rows


def score_rows(rows: list[dict], objective: Objective, constraints: Constraints) -> list[dict]:
    """Set ``score`` and ``eligible`` (succeeded, constraints met, score defined) on the rows,
    scored together (z-scores are taken across exactly these rows)."""
    succeeded = [r for r in rows if r["status"] == RunStatus.SUCCEEDED]
    for row, score in zip(succeeded, scores(objective, [r["metrics"] for r in succeeded])):
        row["score"] = score
        row["violations"] = constraints.violations(row["metrics"])
        row["eligible"] = score is not None and not row["violations"]
    return rows


def batch_scored_rows(*, batch: Batch) -> list[dict]:
    """All rows scored by the batch's objective: over the whole grid, or for walk-forward per
    window and phase (the way the best in-sample combination is picked)."""
    objective = parse_objective(batch.definition.get("objective"))
    constraints = parse_constraints(batch.definition.get("constraints"))
    rows = batch_result_rows(batch=batch)
    if batch.mode == BatchMode.WALK_FORWARD:
        groups: dict[tuple, list[dict]] = {}
        for row in rows:
            groups.setdefault((row["window"], row["phase"]), []).append(row)
        for group in groups.values():
            score_rows(group, objective, constraints)
    else:
        score_rows(rows, objective, constraints)
    return rows


def _sort_value(row: dict, key: str):
    if key == "score":
        value = row["score"]
    elif key in row["params"]:
        value = row["params"][key]
    else:
        value = row["metrics"].get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None if not isinstance(value, str) else value
    return value


def sort_rows(rows: list[dict], key: str = "score", descending: bool = True) -> list[dict]:
    """Sort by ``score``, a swept parameter or any metric; rows without a value go last."""
    present = [r for r in rows if _sort_value(r, key) is not None]
    missing = [r for r in rows if _sort_value(r, key) is None]
    try:
        present.sort(key=lambda r: _sort_value(r, key), reverse=descending)
    except TypeError:  # mixed strings and numbers in a parameter
        present.sort(key=lambda r: str(_sort_value(r, key)), reverse=descending)
    return present + missing


def table_row(row: dict, extra_metric: str | None = None) -> dict:
    """The shape of a results-table row: the key metrics (and the sort metric if another)."""
    wanted = KEY_METRICS + ((extra_metric,) if extra_metric and extra_metric not in KEY_METRICS else ())
    out = {
        k: row[k]
        for k in (
            "run_id",
            "status",
            "cached",
            "combination",
            "params",
            "window",
            "phase",
            "score",
            "eligible",
            "violations",
            "error",
            "duration_seconds",
        )
    }
    out["metrics"] = {k: row["metrics"].get(k) for k in wanted} if row["metrics"] else None
    return out


def schedule_list_for_user(*, user) -> QuerySet[Schedule]:
    return Schedule.objects.filter(owner=user).order_by("name")


def schedule_get_for_user(*, user, schedule_id) -> Schedule | None:
    return Schedule.objects.filter(owner=user, id=schedule_id).first()


def schedule_batches(*, schedule: Schedule, limit: int = 10) -> QuerySet[Batch]:
    return schedule.batches.order_by("-created_at")[:limit]
