"""The summary of a batch, built once when it is final: counts, the best run by the objective
under the constraints, the Deflated Sharpe Ratio of that choice, the objective's distribution,
the failed runs, for walk-forward the stitched out-of-sample result; and, for a scheduled
batch, the drift of its headline metrics against the schedule's previous batch.

The metrics are the engine's (``backtests.engine.metrics``), the same definitions as a single
run's; the DSR uses the engine's PSR (``batches.stats``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from django.conf import settings

from backtests.engine.downsample import downsample_equity
from backtests.engine.metrics import compute_all, sharpe_per_period
from backtests.models import BacktestRun, RunStatus, Trade
from batches import selectors
from batches.models import Batch, BatchMode, BatchStatus
from batches.objective import KEY_METRICS, parse_constraints, parse_objective, pick_best
from batches.stats import deflated_sharpe_ratio
from batches.walk_forward import annualised_return_pct, efficiency, finite_or_none, stitch

MAX_FAILED_LISTED = 200


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
        ][:MAX_FAILED_LISTED],
    }
    if batch.mode == BatchMode.WALK_FORWARD:
        summary["walk_forward"] = _walk_forward_summary(batch, rows)
        return finite_json(summary)
    selectors.score_rows(rows, objective, constraints)
    best = pick_best(rows)
    scored = [r["score"] for r in rows if r["score"] is not None]
    summary["objective_distribution"] = _distribution(scored)
    summary["eligible_runs"] = sum(1 for r in rows if r["eligible"] and r["score"] is not None)
    summary["best"] = (
        None if best is None else {k: best[k] for k in ("run_id", "params", "score", "metrics", "combination")}
    )
    summary["dsr"] = _dsr(rows, best) if best else None
    return finite_json(summary)


def finite_json(value):
    """The summary as a JSON column takes it: ±inf and NaN (an infinite profit factor, a score
    of metrics at their extremes) become null, so a batch can always store its summary and end."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


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


# ---- Deflated Sharpe Ratio ------------------------------------------------------------------


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


def _dsr(rows: list[dict], best: dict) -> dict:
    """Deflated Sharpe Ratio of the best run; the trials are the succeeded runs."""
    succeeded = [r["run_id"] for r in rows if r["status"] == RunStatus.SUCCEEDED]
    returns = _trade_returns(succeeded)
    trial_sharpes = [sharpe_per_period(r) for r in returns.values()]
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


# ---- walk-forward -----------------------------------------------------------------------------


def _walk_forward_summary(batch: Batch, rows: list[dict]) -> dict:
    """Per window: the chosen parameters, in-sample and out-of-sample results; overall: the
    stitched out-of-sample equity and metrics, and walk-forward efficiency."""
    by_id = {r["run_id"]: r for r in rows}
    windows = [_window_summary(window, by_id) for window in batch.windows or []]
    is_annual = [w["is_annualised_return_pct"] for w in windows if w["is_annualised_return_pct"] is not None]
    segments = _oos_segments([w for w in windows if w["oos_status"] == RunStatus.SUCCEEDED])
    capital = float(batch.definition["strategy"].get("initialCapital") or 0) or None
    if capital is None:
        capital = segments[0]["initial_capital"] if segments else 10_000.0
    trades, equity = stitch(segments, capital)
    span_days = _days(windows[0]["oos_start"], windows[-1]["oos_end"]) if windows else 0
    oos_total = (float(equity.iloc[-1]) / capital - 1) * 100 if len(equity) else None
    oos_annualised = annualised_return_pct(oos_total, span_days) if segments else None
    mean_is = float(np.mean(is_annual)) if is_annual else None
    return {
        "windows": windows,
        "anchored": bool(batch.definition["walkForward"].get("anchored", False)),
        "oos_net_return_pct": oos_total,
        "oos_annualised_return_pct": oos_annualised,
        "is_annualised_return_pct_mean": mean_is,
        "efficiency": efficiency(oos_annualised, mean_is),
        "oos_metrics": _stitched_metrics(trades, equity, capital) if len(equity) else None,
        "oos_trade_count": int(len(trades)),
        "oos_equity_curve": downsample_equity(equity),
    }


def _days(start: str, end: str) -> float:
    return (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() / 86400


def _window_summary(window: dict, by_id: dict[str, dict]) -> dict:
    """One walk-forward window: its spans, the chosen parameters, in-sample and out-of-sample
    key metrics, annualised returns and their efficiency."""
    best = window.get("best") or {}
    is_row = by_id.get(best.get("run_id"))
    oos_row = by_id.get(window.get("oos_run_id"))
    oos_ok = oos_row is not None and oos_row["status"] == RunStatus.SUCCEEDED
    is_ann = (
        annualised_return_pct(is_row["metrics"].get("net_return_pct"), _days(window["is_start"], window["is_end"]))
        if is_row
        else None
    )
    oos_ann = (
        annualised_return_pct(oos_row["metrics"].get("net_return_pct"), _days(window["oos_start"], window["oos_end"]))
        if oos_ok
        else None
    )
    return {
        **{k: window[k] for k in ("index", "is_start", "is_end", "oos_start", "oos_end", "state")},
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


def _key_metrics(metrics: dict) -> dict:
    return {k: metrics.get(k) for k in KEY_METRICS}


def _oos_segments(windows: list[dict]) -> list[dict]:
    """The trades of each window's succeeded out-of-sample run, for :func:`stitch`."""
    segments = []
    for window in windows:
        run = BacktestRun.objects.only("id", "cache_source_id", "metrics").get(id=window["oos_run_id"])
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


def _stitched_metrics(trades: pd.DataFrame, equity: pd.Series, capital: float) -> dict:
    """Out-of-sample metrics of the stitched account (the engine's, the same definitions as a
    single run's; Sharpe and Sortino on the equity at trade exits)."""
    return compute_all(trades if len(trades) else pd.DataFrame({"pnl": []}), equity, capital)


# ---- drift ------------------------------------------------------------------------------------


def batch_measure_drift(*, batch: Batch, summary: dict) -> tuple[dict | None, bool]:
    """Compare the headline metrics of a scheduled batch (``summary``, not yet stored) with
    those of the previous succeeded batch of the same schedule. Returns (drift, alert): a drop
    beyond ``QM_BATCH_DRIFT_THRESHOLDS`` (units of the metric) raises the alert; (None, False)
    for the schedule's first batch."""
    previous = (
        Batch.objects.filter(
            schedule_id=batch.schedule_id, status=BatchStatus.SUCCEEDED, created_at__lt=batch.created_at
        )
        .exclude(id=batch.id)
        .order_by("-created_at")
        .only("id", "summary", "mode", "strategy_version")
        .first()
    )
    if previous is None:
        return None, False
    version = _version_change(previous.strategy_version, batch.strategy_version)
    current, before = _headline_metrics(summary), _headline_metrics(previous.summary or {})
    if current is None or before is None:
        return {"previous_batch": str(previous.id), "metrics": {}, "note": "no best run to compare", **version}, False
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
    return {"previous_batch": str(previous.id), "metrics": metrics, **version}, alert


def _version_change(previous: int | None, current: int | None) -> dict:
    """What drift says of the saved strategy's version: a schedule on "latest" follows the
    strategy's improvements, so a change of metrics may come from a new version, not the market."""
    if previous is None and current is None:
        return {}
    out: dict = {"strategy_version": {"previous": previous, "current": current, "changed": previous != current}}
    if previous != current:
        out["version_note"] = f"the strategy changed from version {previous} to version {current} since the last batch"
    return out


def _headline_metrics(summary: dict) -> dict | None:
    """The metrics drift compares: the best run's (grid), the stitched out-of-sample (walk-forward)."""
    if summary.get("walk_forward"):
        return summary["walk_forward"].get("oos_metrics")
    best = summary.get("best")
    return best.get("metrics") if best else None
