"""The batch report: one self-contained HTML document (inline CSS and SVG from the report
charts, ``reports.charts``) for the page and the PDF. It renders the stored summary and the
runs' stored results; it computes nothing that changes them. The PDF is rendered on the
reports queue when the batch is final and stored (``reports/batch-<id>.pdf``).
"""

from __future__ import annotations

import hashlib
import logging

from celery import current_app
from django.conf import settings
from django.template.loader import render_to_string

from backtests.models import BacktestRun
from batches import selectors
from batches.models import Batch, BatchMode
from batches.objective import KEY_METRICS
from qm_platform import artifacts
from reports import charts
from reports.analysis import equity_series
from reports.pdf import PdfRenderError, html_to_pdf
from reports.render import benchmark_rows, montecarlo_rows

logger = logging.getLogger("qm.batches")

REPORT_TASK = "batches.tasks.render_batch_report"  # sent by name: the task module imports this one
TABLE_ROWS_PDF = 200
METRIC_LABELS = {
    "trade_count": "Trades",
    "win_rate": "Win %",
    "profit_factor": "PF",
    "net_return_pct": "Return %",
    "cagr_pct": "CAGR %",
    "max_drawdown_pct": "Max DD %",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "expectancy_r": "Exp. R",
    "esi": "ESI",
    "pvs": "PVS",
}


def batch_render_report_html(*, batch: Batch, for_pdf: bool, x: str | None = None, y: str | None = None) -> str:
    """The report as HTML; ``x`` and ``y`` pick the heatmap's parameters (default: the first
    two swept ones). The PDF version lists the top rows of the results table only."""
    summary = batch.summary or {}
    rows = selectors.sort_rows(selectors.batch_scored_rows(batch=batch), "score")
    objective_label = batch_objective_label(batch)
    swept = swept_parameters(batch)
    param_names = swept or list((rows[0]["params"] if rows else {}).keys())
    table = rows[:TABLE_ROWS_PDF] if for_pdf else rows
    context = {
        "batch": batch,
        "summary": summary,
        "objective_label": objective_label,
        "metric_keys": KEY_METRICS,
        "metric_labels": [METRIC_LABELS.get(k, k) for k in KEY_METRICS],
        "param_names": param_names,
        "counts": selectors.batch_run_counts(batch=batch),
        "for_pdf": for_pdf,
        "page_size": settings.QM_REPORT_PAGE_SIZE,
        "swept": swept,
        "drift": batch.drift,
        "table": [
            dict(
                r,
                metric_values=[r["metrics"].get(k) for k in KEY_METRICS],
                param_values=[r["params"].get(p) for p in param_names],
            )
            for r in table
        ],
        "table_truncated": len(rows) - len(table),
    }
    context.update(batch_report_charts(batch=batch, rows=rows, x=x, y=y))
    return render_to_string("batches/report.html", context)


def batch_objective_label(batch: Batch) -> str:
    """The objective's name as the report shows it (``custom`` for a weighted score)."""
    objective = (batch.summary or {}).get("objective") or batch.definition.get("objective_resolved") or {}
    return objective.get("name", "score")


def batch_report_charts(*, batch: Batch, rows: list[dict], x: str | None = None, y: str | None = None) -> dict:
    """The report's charts from the scored ``rows``: for a grid the heatmap over two swept
    parameters (``x``, ``y``), the objective's distribution and the best run's equity; for
    walk-forward the windows timeline and the stitched out-of-sample equity. The batch page
    shows the same charts as the report."""
    if batch.mode == BatchMode.WALK_FORWARD:
        return _walk_forward_charts((batch.summary or {}).get("walk_forward") or {}, batch)
    return _grid_charts(batch.summary or {}, rows, swept_parameters(batch), batch_objective_label(batch), x, y)


def swept_parameters(batch: Batch) -> list[str]:
    """Parameters with more than one value in the batch, in the order of the request."""
    names = list((batch.definition.get("grid") or {}).keys())
    if len(batch.definition.get("markets") or []) > 1:
        names.append("market")
    if len(batch.definition.get("timeframes") or []) > 1:
        names.append("timeframe")
    return [n for n in names if len({repr(v) for v in _values(batch, n)}) > 1]


def _values(batch: Batch, name: str) -> list:
    if name == "market":
        return [m.upper() for m in batch.definition.get("markets") or []]
    if name == "timeframe":
        return list(batch.definition.get("timeframes") or [])
    return list((batch.definition.get("grid") or {}).get(name) or [])


def _ordered(values: list) -> list:
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct)
    except TypeError:
        return distinct


def heatmap_cells(rows: list[dict], x: str, y: str) -> tuple[dict, list, list]:
    """Best score per (x, y) over the other parameters, and the x and y values in order."""
    cells: dict[tuple, float] = {}
    for row in rows:
        if row["score"] is None or x not in row["params"] or y not in row["params"]:
            continue
        key = (row["params"][x], row["params"][y])
        cells[key] = max(cells.get(key, row["score"]), row["score"])
    return cells, _ordered([k[0] for k in cells]), _ordered([k[1] for k in cells])


def _short(name: str) -> str:
    return name.split(".")[-1] if len(name) > 28 else name


def _grid_charts(summary: dict, rows: list[dict], swept: list[str], label: str, x, y) -> dict:
    """The heatmap over two swept parameters, the score distribution, the best run's equity."""
    out = {}
    best = summary.get("best")
    if len(swept) >= 2:
        x = x if x in swept else swept[0]
        y = y if y in swept and y != x else next(n for n in swept if n != x)
        cells, xs, ys = heatmap_cells(rows, x, y)
        out["heatmap_svg"] = charts.score_heatmap(_short(x), _short(y), cells, xs, ys, label)
        out["heatmap_axes"] = (x, y)
    out["distribution_svg"] = charts.score_distribution_chart(
        [r["score"] for r in rows], best["score"] if best else None, label
    )
    if best:
        run = BacktestRun.objects.only("id", "equity_curve", "metrics", "montecarlo").filter(id=best["run_id"]).first()
        capital = float(((run.metrics or {}) if run else {}).get("initial_capital") or 10_000)
        out["best_equity_svg"] = charts.segmented_equity_chart(
            equity_series(run.equity_curve if run else []), capital, label="best run equity"
        )
        # the best run's own robustness and benchmark figures, as its run report prints them
        montecarlo = montecarlo_rows(run.montecarlo if run else None)
        if montecarlo:
            out["best_montecarlo"] = dict(montecarlo, fan_svg=charts.montecarlo_fan_chart(montecarlo["fan"]))
        out["best_benchmark"] = benchmark_rows((run.metrics or {}) if run else {}, None)
    return out


def _walk_forward_charts(wf: dict, batch: Batch) -> dict:
    """The windows timeline and the stitched out-of-sample equity, each window shaded."""
    windows = wf.get("windows") or []
    capital = float(batch.definition["strategy"].get("initialCapital") or 0) or 10_000.0
    return {
        "wf": wf,
        "timeline_svg": charts.windows_timeline_chart(windows),
        "oos_equity_svg": charts.segmented_equity_chart(
            equity_series(wf.get("oos_equity_curve") or []),
            capital,
            label="stitched out-of-sample equity",
            color=charts.OOS,
            spans=[(w["oos_start"], w["oos_end"]) for w in windows],
        ),
    }


def batch_report_dispatch(*, batch_id) -> bool:
    """Send the batch's PDF rendering to the reports queue; False if the broker is down (the
    PDF is then rendered on request)."""
    try:
        current_app.send_task(
            REPORT_TASK,
            args=[str(batch_id)],
            retry=True,
            ignore_result=True,  # no result is read: no subscription to a result store
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        )
    except Exception:  # kombu raises OperationalError and friends when the broker is down
        logger.warning(
            "broker unavailable for the batch report; render it on request", extra={"run_id": f"batch:{batch_id}"}
        )
        return False
    return True


def batch_render_report_pdf(*, batch_id) -> bytes | None:
    """Render the batch report to PDF and store it (``reports/batch-<id>.pdf``). A rendering
    failure is recorded on the batch (``report_error``) and returns None."""
    batch = Batch.objects.get(id=batch_id)
    try:
        pdf = html_to_pdf(batch_render_report_html(batch=batch, for_pdf=True), page_format=settings.QM_REPORT_PAGE_SIZE)
    except (PdfRenderError, TimeoutError) as exc:
        logger.warning("batch PDF failed: %s", exc, extra={"run_id": f"batch:{batch_id}"})
        Batch.objects.filter(id=batch_id).update(report_error=str(exc) or type(exc).__name__)
        return None
    key = artifacts.write(f"reports/batch-{batch.id}.pdf", pdf)  # replaces an older PDF atomically
    Batch.objects.filter(id=batch_id).update(report_key=key, report_error="")
    logger.info(
        "batch report stored (%d bytes, sha256 %s)",
        len(pdf),
        hashlib.sha256(pdf).hexdigest()[:12],
        extra={"run_id": f"batch:{batch_id}"},
    )
    return pdf
