"""The report as HTML: one template for the results page and the PDF."""
from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import timezone

from reports import charts

KPIS = [
    ("net_return_pct", "Net return", "{:+.2f}%"),
    ("win_rate", "Win rate", "{:.1f}%"),
    ("profit_factor", "Profit factor", "{:.2f}"),
    ("max_drawdown_pct", "Max drawdown", "{:.2f}%"),
    ("trade_count", "Trades", "{:d}"),
    ("expectancy_r", "Expectancy", "{:+.2f} R"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("buy_and_hold_return_pct", "Buy & hold", "{:+.2f}%"),
]


def kpi_rows(metrics: dict | None) -> list[dict]:
    metrics = metrics or {}
    rows = []
    for key, label, fmt in KPIS:
        value = metrics.get(key)
        rows.append({"key": key, "label": label,
                     "text": "n/a" if value is None else fmt.format(value)})
    return rows


def render_report_html(run, *, for_pdf: bool, request=None) -> str:
    from backtests.models import Trade

    metrics = run.metrics or {}
    context = {
        "run": run,
        "for_pdf": for_pdf,
        "kpis": kpi_rows(metrics),
        "metrics": metrics,
        "trades": list(Trade.objects.filter(run=run).order_by("seq")),
        "equity_svg": charts.equity_chart(run.equity_curve or [], metrics.get("initial_capital", 10000)),
        "drawdown_svg": charts.drawdown_chart(run.equity_curve or []),
        "generated_at": timezone.now(),
        "strategy_text": metrics.get("strategy_text", ""),
    }
    return render_to_string("reports/report.html", context, request=request)
