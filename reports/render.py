"""The report as HTML: one template, shown as the results page and printed to PDF.

The caller hands in what a report needs besides the run row (``ReportInputs``: the run's trades
and the price-derived extras the worker stored, ``analysis.report_extras``); ``report_context``
turns it into the template's context: cover, KPI cards, charts (inline SVG from
``reports.charts``), the trade list, strategy, data notes and the metric definitions. The report
only renders a stored result: no metric is recomputed and no market data is loaded here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from backtests.engine.benchmark import FIGURES
from reports import analysis, charts, kpis
from reports.portfolio_charts import portfolio_section

logger = logging.getLogger("qm.reports")

WEB_TRADE_ROWS = 2000  # the page shows this many trades; the PDF and the API have them all
STAGE_LABELS = {
    "queued": "Waiting for a worker",
    "loading_data": "Loading market data",
    "computing_modules": "Computing indicators",
    "simulating": "Simulating trades",
    "analysing": "Measuring the results",
    "rendering_report": "Rendering the report",
    "done": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
# Printable width of the trade ledger in characters of the monospaced font at its size; the
# ledger font shrinks when a run's numbers make the rows wider (so nothing is clipped).
LEDGER_CHARS_AT_8PX = 140
# Trades printed in one row of the PDF's trade list (one laid-out box; see ledger_rows).
LEDGER_TRADES_PER_ROW = 5


@dataclass
class ReportInputs:
    """Everything a report shows besides the run row itself, read from stored results."""

    trades: list  # the run's trades in order (Trade rows, or anything with their attributes)
    extras: dict | None = None  # analysis.report_extras as stored with the run; None: stored before
    notes: list[str] = field(default_factory=list)


NO_EXTRAS_NOTE = (
    "This run was stored before the report kept its price data with the results, so the price "
    "charts and the buy-and-hold line are left out. Run it again to see them."
)


def render_report_html(run, *, for_pdf: bool, inputs: ReportInputs, request=None, page_size: str | None = None) -> str:
    """The report: a whole HTML document for the PDF, or a fragment for the results page."""
    started = time.perf_counter()
    context = report_context(run, inputs, for_pdf=for_pdf, page_size=page_size or settings.QM_REPORT_PAGE_SIZE)
    template = "reports/report.html" if for_pdf else "reports/_report.html"
    html = render_to_string(template, context, request=request)
    logger.debug("report for run %s rendered in %.0f ms", run.id, (time.perf_counter() - started) * 1000)
    return html


# ---- context ----------------------------------------------------------------------------------


def report_context(run, inputs: ReportInputs, *, for_pdf: bool, page_size: str = "A4") -> dict[str, Any]:
    metrics = run.metrics or {}
    request_body = run.request or {}
    capital = analysis.initial_capital(metrics, request_body)
    equity = analysis.equity_series(run.equity_curve or [])
    trades = analysis.trade_frame(inputs.trades)
    extras = inputs.extras
    quality = _quality(getattr(run, "data_quality", None))
    hour_labels, hour_wins, hour_losses = analysis.wins_losses_by(trades, "hour")
    day_labels, day_wins, day_losses = analysis.wins_losses_by(trades, "weekday")
    windows = analysis.stored_trade_windows(extras)
    monthly = analysis.stored_monthly_returns(metrics.get("monthly_returns"))  # every bar's, from the worker
    if monthly is None:
        monthly = analysis.monthly_returns(equity, capital)
    benchmark = benchmark_rows(metrics, extras)
    chart = {
        "equity": charts.equity_chart(
            equity,
            analysis.stored_benchmark(extras),
            capital,
            benchmark_label=benchmark["name"] if benchmark else "Buy and hold",
        ),
        "drawdown": charts.drawdown_chart(
            analysis.drawdown_pct(equity), max_drawdown_pct=kpis.metric_value(metrics, "max_drawdown_pct")
        ),
        "monthly": charts.monthly_returns_heatmap(monthly),
        "windows": [charts.price_chart(w.prices, w.marks, w.title) for w in windows],
        "r_distribution": charts.histogram_chart(
            trades["r_multiple"].to_numpy(np.float64), title="Trade results in R", unit="R"
        ),
        "weekday": charts.win_loss_bars(
            day_labels, day_wins, day_losses, width=350, height=200, title="Wins and losses by weekday (UTC)"
        ),
        "hour": charts.win_loss_bars(
            hour_labels, hour_wins, hour_losses, height=180, title="Wins and losses by hour of entry (UTC)"
        ),
    }
    if benchmark and benchmark["own_page"]:
        rolling = benchmark["rolling"]
        chart["rolling_sharpe"] = charts.rolling_chart(
            rolling["sharpe"], label="Rolling 90-day Sharpe", reference=0.0, reference_label="0"
        )
        chart["rolling_beta"] = charts.rolling_chart(
            rolling["beta"], label="Rolling 90-day beta", reference=1.0, reference_label="β = 1: moves with it"
        )
    montecarlo = montecarlo_rows(getattr(run, "montecarlo", None))
    if montecarlo:
        chart["montecarlo"] = charts.montecarlo_fan_chart(montecarlo["fan"])
    decimals = metrics.get("price_decimals")  # the instrument's, when the run had one
    ledger = ledger_rows(inputs.trades, decimals=decimals) if for_pdf else None
    notes = list(inputs.notes) + ([NO_EXTRAS_NOTE] if extras is None else list(extras.get("notes") or []))
    notes += quality.pop("notes")
    return {
        "run": run,
        "for_pdf": for_pdf,
        "page_size": page_size,
        "title": _strategy_name(run),
        "strategy_text": metrics.get("strategy_text", ""),
        "cover": _cover_rows(run, quality),
        "kpis": kpis.summary(metrics, run.trade_count),
        "other_metrics": [
            m for m in kpis.other_metrics(metrics) if not benchmark or m["key"] not in (*BENCHMARK_ROWS, "benchmark")
        ],
        "definitions": kpis.definitions(metrics),
        "chart": chart,
        "montecarlo": montecarlo,
        "benchmark": benchmark,
        "portfolio": portfolio_section((extras or {}).get("portfolio"), capital),
        "has_prices": bool(extras and extras.get("has_prices")),
        "trade_count": len(inputs.trades),
        "ledger": ledger,
        "web_trades": None if for_pdf else web_trade_rows(inputs.trades[:WEB_TRADE_ROWS], decimals=decimals),
        "web_trades_capped": not for_pdf and len(inputs.trades) > WEB_TRADE_ROWS,
        "web_trade_limit": WEB_TRADE_ROWS,
        "rules": _rules(request_body),
        "quality": quality,
        "warnings": list(run.warnings or []),
        "notes": notes,
        "generated_at": timezone.now(),
    }


BENCHMARK_ROWS = FIGURES


def benchmark_rows(metrics: dict, extras: dict | None) -> dict | None:
    """The benchmark section from the stored figures (``metrics``) and rolling series
    (``report_data.rolling``): its name, one row per figure (label, text as "All statistics"
    prints it), the rolling Sharpe and beta as Series, and whether it earns a page of its own
    (there are rolling points to draw). None for a run stored before benchmarks."""
    if "beta" not in metrics:
        return None
    stored = (extras or {}).get("rolling") or {}
    index = pd.to_datetime(stored.get("time") or [], utc=True, format="ISO8601")

    def series(key: str) -> pd.Series:
        values = [np.nan if v is None else float(v) for v in stored.get(key) or []]
        return pd.Series(values, index=index, dtype=np.float64)

    rolling = {"sharpe": series("sharpe"), "beta": series("beta"), "window_days": stored.get("window_days") or 90}
    drawable = any(rolling[key].notna().sum() >= 2 for key in ("sharpe", "beta"))
    name = str(metrics.get("benchmark") or (extras or {}).get("benchmark_name") or "Buy and hold")
    days = (metrics.get("period_days") or 0) or 0
    return {
        "name": name,
        "rows": [(kpis.OTHER[key][0], kpis.format_value(key, metrics.get(key)), key) for key in BENCHMARK_ROWS],
        "rolling": rolling,
        "own_page": drawable,
        "note": (
            "Daily returns of the strategy and the benchmark, paired by UTC day; alpha, tracking error and the "
            "information ratio are annualised by the market's trading days a year. Rolling figures use the "
            f"{rolling['window_days']} calendar days up to each day."
            if drawable
            else f"Rolling {rolling['window_days']}-day Sharpe and beta need more than {rolling['window_days']} days "
            f"of data; this run spans {days:,.0f}."
        ),
    }


MONTECARLO_METHODS = (("bootstrap", "Bootstrap of trade returns"), ("shuffle", "Trade order reshuffled"))


def montecarlo_rows(stored: dict | None) -> dict | None:
    """The Monte Carlo table the worker stored (``run.montecarlo``): one row per figure, one
    column per method ("p5 / p50 / p95" or a probability) and the run's own value; the fan of the
    bootstrap. None when the run has none."""
    if not stored or not any(stored.get(m) for m, _ in MONTECARLO_METHODS):
        return None
    methods = [(key, title, stored[key]) for key, title in MONTECARLO_METHODS if stored.get(key)]
    first = methods[0][2]

    def spread(result: dict, key: str, pattern: str) -> str:
        values = result[key]
        return " / ".join(kpis.number_text(pattern, values[q]) for q in ("p5", "p50", "p95"))

    def pct(value: float) -> str:
        return kpis.number_text("{:.1f}%", value)

    actual = first["actual"]
    ruin = first["settings"]["ruin_pct"]
    rows = [
        (
            "Final return",
            [spread(r, "final_return_pct", "{:+.1f}%") for _, _, r in methods],
            kpis.number_text("{:+.1f}%", actual["final_return_pct"]),
        ),
        (
            "Max drawdown at trade closes",
            [spread(r, "max_drawdown_pct", "{:.1f}%") for _, _, r in methods],
            kpis.number_text("{:.1f}%", actual["max_drawdown_pct"]),
        ),
        (
            "Longest drawdown (trades)",
            [spread(r, "longest_drawdown_trades", "{:.0f}") for _, _, r in methods],
            f"{actual['longest_drawdown_trades']:,}",
        ),
        (f"Chance of losing {ruin:g}% of the start", [pct(r["ruin_probability_pct"]) for _, _, r in methods], ""),
        ("Chance of ending below the start", [pct(r["loss_probability_pct"]) for _, _, r in methods], ""),
        (
            "Paths with a lower or equal return / drawdown",
            [
                f"{pct(r['actual']['final_return_rank_pct'])} / {pct(r['actual']['max_drawdown_rank_pct'])}"
                for _, _, r in methods
            ],
            "",
        ),
    ]
    settings = first["settings"]
    return {
        "methods": [title for _, title, _ in methods],
        "rows": rows,
        "fan": first["fan"],
        "note": (
            f"{settings['paths']:,} paths of {settings['trades']:,} trades each, seed {settings['seed']}; "
            "percentiles 5 / 50 / 95. Each trade's return on the equity before it is resampled and compounded; "
            "an account can be wiped out but never goes below −100%. Drawdowns are measured at trade closes."
        ),
    }


def _strategy_name(run) -> str:
    if run.strategy_id and run.strategy:
        return run.strategy.name
    return (run.request or {}).get("strategyName") or "Backtest report"


def _period_text(run) -> str:
    if not (run.data_start and run.data_end):
        return "n/a"
    days = (run.data_end - run.data_start).total_seconds() / 86400
    return f"{run.data_start:%Y-%m-%d %H:%M} → {run.data_end:%Y-%m-%d %H:%M} UTC ({days:,.0f} days)"


def _cover_rows(run, quality: dict) -> list[tuple[str, str]]:
    source = {"synthetic": "Synthetic (deterministic demo data)", "yahoo": "Yahoo Finance"}.get(
        run.data_source, run.data_source.replace("dataset:", "Uploaded dataset #") or "n/a"
    )
    score = quality.get("score")
    return [
        ("Market", run.market),
        ("Timeframe", run.timeframe),
        ("Direction", run.direction),
        ("Period", _period_text(run)),
        ("Bars", f"{run.bars:,}" if run.bars else "n/a"),
        ("Data source", source),
        ("Data quality", f"{score:.0f} / 100 ({quality['basis']})" if score is not None else "n/a"),
        ("Account", _account_text(run.metrics or {})),
        ("Engine version", run.engine_version or "n/a"),
        ("Run id", str(run.id)),
        ("Generated", f"{timezone.now():%Y-%m-%d %H:%M} UTC"),
    ]


def _account_text(metrics: dict) -> str:
    """Leverage, financing, liquidations and a wipe-out, as one line of the cover."""
    leverage = metrics.get("leverage_cap")
    parts = [f"leverage up to {leverage:g}:1" if leverage else "no leverage cap"]
    if metrics.get("total_financing"):
        parts.append(f"financing {-metrics['total_financing']:+,.2f}")
    if metrics.get("liquidations"):
        parts.append(f"{metrics['liquidations']} liquidated")
    if metrics.get("wiped_out"):
        parts.append("account wiped out")
    return " · ".join(parts)


def _quality(report: dict | None) -> dict:
    """The cover's quality score and the data notes, from the quality report of the run's data
    window (``marketdata.validation.quality_report``, stored with the run)."""
    out: dict[str, Any] = {"score": None, "basis": "", "rows": [], "gaps": [], "notes": []}
    if not report:
        return out
    score = report.get("completeness_score")
    out["score"] = float(score) if isinstance(score, (int, float)) else None
    calendar = report.get("calendar") or "market"
    out["basis"] = f"bars present against the {calendar} calendar"
    anomalies = report.get("anomalies") or {}
    rows = [
        ("Bars in the test", f"{report.get('rows', 0):,}"),
        ("Expected by the calendar", f"{report.get('expected_bars', 0):,} ({calendar})"),
        ("Missing bars", f"{report.get('missing_bars', 0):,} ({report.get('missing_bar_pct', 0):.2f}%)"),
        ("Price spikes flagged", f"{anomalies.get('spike_count', 0):,}"),
    ]
    if anomalies.get("problem_count"):
        rows.append(("Bad rows left out", f"{anomalies['problem_count']:,}"))
    last_bar = (report.get("freshness") or {}).get("last_bar")
    if last_bar:
        rows.append(("Last bar", str(last_bar).replace("T", " ").replace("+00:00", " UTC")))
    out["rows"] = rows
    gaps = sorted((report.get("gaps") or {}).get("items") or [], key=lambda g: -g.get("bars", 0))[:5]
    out["gaps"] = [(_short_time(g.get("start")), _short_time(g.get("end")), f"{g.get('bars', 0):,}") for g in gaps]
    out["notes"] = [
        f"Price spike at {_short_time(s.get('timestamp'))}: a {s.get('return_pct', 0):+.2f}% move "
        f"(robust z {s.get('z', 0):.0f})."
        for s in (anomalies.get("spikes") or [])[:5]
    ]
    out["notes"] += [f"Repaired: {r}" for r in anomalies.get("repaired") or []]
    return out


def _short_time(iso) -> str:
    if not iso:
        return "?"
    ts = pd.Timestamp(iso)
    return f"{ts.tz_convert('UTC') if ts.tzinfo else ts:%Y-%m-%d %H:%M}"


def _rules(body: dict) -> list[tuple[str, str]]:
    """The request's settings as label/text pairs for the strategy section."""
    ctx = body.get("marketContext") or {}
    rows = []
    if ctx.get("startDate") or ctx.get("endDate"):
        rows.append(("Requested period", f"{ctx.get('startDate', '…')} → {ctx.get('endDate', '…')}"))
    elif ctx.get("testPeriod"):
        rows.append(("Requested period", f"last {ctx['testPeriod']}"))
    if ctx.get("session"):
        rows.append(("Session", str(ctx["session"])))
    for i, block in enumerate(body.get("decisionBlocks") or []):
        conditions = [_describe_sub(s) for s in block.get("subConfirmations") or [] if s.get("selected", True)]
        joiner = " OR " if block.get("logic") == "any" else " AND "
        rows.append(
            (
                f"Block {i + 1}" + (f": {block['label']}" if block.get("label") else ""),
                joiner.join(conditions) or "no selected conditions",
            )
        )
    for section, title in (("exit", "Exit"), ("sizing", "Sizing"), ("costs", "Costs")):
        if isinstance(body.get(section), dict) and body[section]:
            rows.append((title, ", ".join(f"{k} {_plain(v)}" for k, v in body[section].items())))
    rows.append(("Initial capital", f"{float(body.get('initialCapital', 10_000)):,.0f}"))
    return rows


def _describe_sub(sub: dict) -> str:
    config = dict(sub.get("config") or {})
    operator, value = config.pop("operator", None), config.pop("value", None)
    output = config.pop("output", None)
    value2 = config.pop("value2", None)
    params = ", ".join(f"{k}={_plain(v)}" for k, v in config.items())
    left = f"{sub.get('moduleId') or sub.get('label', '?')}({params})" + (f".{output}" if output else "")
    if operator is None:
        return left
    right = _plain(value) + (f" and {_plain(value2)}" if value2 is not None else "")
    return f"{left} {operator.replace('_', ' ')} {right}"


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        if "column" in value:
            return str(value["column"])
        if "module" in value:
            params = ", ".join(f"{k}={v}" for k, v in (value.get("config") or {}).items())
            return f"{value['module']}({params})" + (f".{value['output']}" if value.get("output") else "")
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)


# ---- the trade list ---------------------------------------------------------------------------


def _size_text(size: float) -> str:
    return f"{size:,.0f}" if abs(size) >= 1000 else f"{size:.2f}" if abs(size) >= 1 else f"{size:.4f}"


def _trade_columns(trades: list, decimals: int | None = None) -> tuple[list[list[str]], list[bool | None], bool]:
    """Text of every column (in ``HEADERS`` order, Fees before R when shown), each trade's
    outcome (True win, False loss, None flat) and whether the fees column is shown (only when
    some trade paid fees). Prices show ``decimals`` digits (the instrument's), or as many as their
    size suggests. Built a column at a time: one format per column, no row lists to transpose."""
    if decimals is None:
        decimals = charts.price_decimals([t.entry_price for t in trades])
    price = f"{{:,.{decimals}f}}".format
    with_fees = any(t.fees for t in trades)
    columns = [
        [str(t.seq) for t in trades],
        [t.direction for t in trades],
        [t.entry_time.isoformat(" ", "minutes")[:16] for t in trades],  # "%Y-%m-%d %H:%M", several times faster
        [price(t.entry_price) for t in trades],
        [t.exit_time.isoformat(" ", "minutes")[:16] for t in trades],
        [price(t.exit_price) for t in trades],
        [_size_text(t.size) for t in trades],
        [f"{t.pnl:+,.2f}" for t in trades],
        [f"{t.pnl_pct:+.2f}" for t in trades],
        ["–" if t.r_multiple is None else f"{t.r_multiple:+.2f}" for t in trades],
        [str(t.bars_held) for t in trades],
        [t.exit_reason for t in trades],
    ]
    if with_fees:
        columns.insert(9, [f"{t.fees:,.2f}" for t in trades])
    outcomes = [True if t.pnl > 0 else False if t.pnl < 0 else None for t in trades]
    return columns, outcomes, with_fees


HEADERS = [
    "#",
    "Side",
    "Entry time (UTC)",
    "Entry",
    "Exit time (UTC)",
    "Exit",
    "Size",
    "P&L",
    "P&L %",
    "R",
    "Bars",
    "Exit reason",
]
LEFT_ALIGNED = {1, 2, 4, 11}


def _headers_and_left(with_fees: bool) -> tuple[list[str], set[int]]:
    """The column headers and the indices of the left-aligned columns, Fees before R when shown."""
    headers = list(HEADERS)
    if with_fees:
        headers.insert(9, "Fees")
    return headers, {i + (1 if with_fees and i >= 9 else 0) for i in LEFT_ALIGNED}


def ledger_rows(trades: list, decimals: int | None = None) -> dict:
    """The PDF's trade list as monospaced lines, ``LEDGER_TRADES_PER_ROW`` trades (lines) to a
    table row.

    Chromium's print time grows with the number of laid-out boxes: a 500-trade table with a cell
    per value took ~350 ms to print here, one line per row ~110 ms, and a row per
    ``LEDGER_TRADES_PER_ROW`` lines about a third of that (bench/report.py). The table keeps
    Chromium's repeated header on every page; a row is not split across pages, and every other
    row is shaded, so the eye follows a line in bands of ``LEDGER_TRADES_PER_ROW``.

    Each column is padded to its width at once and only the text columns (side, exit reason) are
    escaped, once per distinct value: numbers and times hold nothing to escape.
    """
    columns, outcomes, with_fees = _trade_columns(trades, decimals)
    headers, left = _headers_and_left(with_fees)
    widths = [max([len(h), *map(len, column)]) for h, column in zip(headers, columns, strict=True)]
    padded = []
    for i, (column, width) in enumerate(zip(columns, widths, strict=True)):
        if i in left:
            safe = {value: escape(value) + " " * (width - len(value)) for value in set(column)}
            padded.append([safe[value] for value in column])
        else:
            padded.append([value.rjust(width) for value in column])
    pnl_from, pnl_to = 7, 10 + (1 if with_fees else 0)  # P&L, P&L %, (Fees,) R share the outcome colour
    head = "  ".join(h.ljust(w) if i in left else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))
    tones = {True: "win", False: "loss", None: "flat"}
    lines = [
        f'{"  ".join(row[:pnl_from])}  <span class="{tones[outcome]}">{"  ".join(row[pnl_from:pnl_to])}</span>  '
        f"{'  '.join(row[pnl_to:])}"
        for row, outcome in zip(zip(*padded), outcomes, strict=True)
    ]
    rows = (
        "<tr><td>" + "\n".join(lines[at : at + LEDGER_TRADES_PER_ROW]) + "</td></tr>"
        for at in range(0, len(lines), LEDGER_TRADES_PER_ROW)
    )
    chars = len(head)
    font_px = min(8.0, 8.0 * LEDGER_CHARS_AT_8PX / chars) if chars else 8.0
    return {"header": head, "rows": mark_safe("".join(rows)), "font_px": f"{font_px:.2f}"}


def web_trade_rows(trades: list, decimals: int | None = None) -> dict:
    """The results page's trade table: a real table (sortable by eye, paginated in the browser)."""
    columns, outcomes, with_fees = _trade_columns(trades, decimals)
    headers, left = _headers_and_left(with_fees)
    pnl_cols = set(range(7, 11 + (1 if with_fees else 0)))
    head = "".join(f'<th class="{"" if i in left else "num"}">{escape(h)}</th>' for i, h in enumerate(headers))
    rows = []
    for row, outcome in zip(zip(*columns), outcomes):
        tone = "win" if outcome else "loss" if outcome is False else ""
        coloured = f" {tone}" if tone else ""
        rows.append(
            "<tr>"
            + "".join(
                f'<td class="{"" if i in left else "num"}{coloured if i in pnl_cols else ""}">{escape(c)}</td>'
                for i, c in enumerate(row)
            )
            + "</tr>"
        )
    return {"head": mark_safe(head), "rows": mark_safe("".join(rows))}
