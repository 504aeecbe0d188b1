"""The batch report: one self-contained HTML document (inline CSS and SVG) for the page and
the PDF. It renders the stored summary and the runs' stored results; it computes nothing
that changes them."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from backtests.models import BacktestRun
from batches import charts, selectors
from batches.models import BatchMode
from batches.objective import KEY_METRICS

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


def swept_parameters(batch) -> list[str]:
    """Parameters with more than one value in the batch, in the order of the request."""
    names = list((batch.definition.get("grid") or {}).keys())
    if len(batch.definition.get("markets") or []) > 1:
        names.append("market")
    if len(batch.definition.get("timeframes") or []) > 1:
        names.append("timeframe")
    return [n for n in names if len({repr(v) for v in _values(batch, n)}) > 1]


def _values(batch, name: str) -> list:
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
    """Best score per (x, y) over the other parameters."""
    cells: dict[tuple, float] = {}
    for row in rows:
        if row["score"] is None or x not in row["params"] or y not in row["params"]:
            continue
        key = (row["params"][x], row["params"][y])
        cells[key] = max(cells.get(key, row["score"]), row["score"])
    xs = _ordered([k[0] for k in cells])
    ys = _ordered([k[1] for k in cells])
    return cells, xs, ys


def _short(name: str) -> str:
    return name.split(".")[-1] if len(name) > 28 else name


def report_context(batch, *, x: str | None = None, y: str | None = None, for_pdf: bool) -> dict:
    summary = batch.summary or {}
    rows = selectors.sort_rows(selectors.batch_scored_rows(batch=batch), "score")
    objective = summary.get("objective") or batch.definition.get("objective_resolved") or {}
    objective_label = objective.get("name", "score")
    swept = swept_parameters(batch)
    context = {
        "batch": batch,
        "summary": summary,
        "objective_label": objective_label,
        "metric_keys": KEY_METRICS,
        "metric_labels": [METRIC_LABELS.get(k, k) for k in KEY_METRICS],
        "param_names": swept or list((rows[0]["params"] if rows else {}).keys()),
        "counts": selectors.batch_run_counts(batch=batch),
        "for_pdf": for_pdf,
        "page_size": settings.QM_REPORT_PAGE_SIZE,
        "swept": swept,
        "drift": batch.drift,
    }
    table = rows[:TABLE_ROWS_PDF] if for_pdf else rows
    context["table"] = [
        dict(
            r,
            metric_values=[r["metrics"].get(k) for k in KEY_METRICS],
            param_values=[r["params"].get(p) for p in context["param_names"]],
        )
        for r in table
    ]
    context["table_truncated"] = len(rows) - len(table)
    if batch.mode == BatchMode.WALK_FORWARD:
        wf = summary.get("walk_forward") or {}
        context["wf"] = wf
        context["timeline_svg"] = charts.windows_timeline(wf.get("windows") or [])
        context["oos_equity_svg"] = charts.equity(
            wf.get("oos_equity_curve") or [],
            "stitched out-of-sample equity",
            charts.OOS,
            segments=[(w["oos_start"], w["oos_end"]) for w in wf.get("windows") or []],
        )
        return context
    best = summary.get("best")
    if len(swept) >= 2:
        x = x if x in swept else swept[0]
        y = y if y in swept and y != x else next(n for n in swept if n != x)
        cells, xs, ys = heatmap_cells(rows, x, y)
        context["heatmap_svg"] = charts.heatmap(_short(x), _short(y), cells, xs, ys, objective_label)
        context["heatmap_axes"] = (x, y)
    context["distribution_svg"] = charts.distribution(
        [r["score"] for r in rows], best["score"] if best else None, objective_label
    )
    if best:
        run = BacktestRun.objects.only("id", "equity_curve").filter(id=best["run_id"]).first()
        context["best_equity_svg"] = charts.equity(run.equity_curve if run else [], "best run equity")
    return context


def render_batch_report_html(batch, *, for_pdf: bool, x: str | None = None, y: str | None = None) -> str:
    return render_to_string("batches/report.html", report_context(batch, x=x, y=y, for_pdf=for_pdf))
