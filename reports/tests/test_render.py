"""The report HTML from a stored run: every section, n/a for missing metrics, both page sizes."""

import pytest
from django.test import override_settings

from reports.render import LEDGER_TRADES_PER_ROW, ReportInputs, ledger_rows, render_report_html

from .factories import stored_inputs, stored_run

pytestmark = pytest.mark.django_db


def test_the_pdf_document_has_cover_kpis_charts_trades_strategy_data_and_appendix(alice):
    run = stored_run(alice, trades=30, warnings=["Served cached data 3 days old: the provider was unavailable."])
    html = render_report_html(run, for_pdf=True, inputs=stored_inputs(run))
    assert html.startswith("<!doctype html>") and "size: A4;" in html
    for text in (
        "RSI dip",
        "XAUUSD · 1h · Long",
        str(run.id),
        "Synthetic (deterministic demo data)",
        "Engine version",
        "Long: RSI(14) &lt; 35 · stop 1% · target 2%",
        "PVS 91: strong statistical evidence the edge is not luck.",
        "+12.50%",
        "Equity against XAUUSD buy and hold",
        "XAUUSD buy and hold</text>",
        "Underwater",
        "Monthly returns",
        "Best trade",
        "Trade results in R",
        "by weekday",
        "by hour of entry",
        "Trade list (30 trades)",
        "Entry time (UTC)",
        "Served cached data 3 days old",
        "Data quality",
        "Appendix: metric definitions",
        "Probabilistic Validation Score",
    ):
        assert text in html, text
    assert html.count("<svg") >= 8
    assert 'data-kpi="sortino"' in html


def test_missing_metrics_render_as_n_a(alice):
    run = stored_run(alice, trades=3, metrics={"net_return_pct": 1.0, "strategy_text": "Long: x"})
    html = render_report_html(run, for_pdf=False, inputs=stored_inputs(run))
    for key in ("cagr_pct", "sharpe", "sortino", "esi", "pvs", "profit_factor"):
        card = html.split(f'data-kpi="{key}"', 1)[1].split("</div></div>", 1)[0]
        assert ">n/a<" in card, key


def test_the_results_page_fragment_has_a_real_table_and_no_document_shell(alice):
    run = stored_run(alice, trades=12)
    html = render_report_html(run, for_pdf=False, inputs=stored_inputs(run))
    assert "<!doctype" not in html and "@page" not in html
    assert 'id="trades-table"' in html and html.count("<tr>") >= 12


@override_settings(QM_REPORT_PAGE_SIZE="Letter")
def test_the_page_size_setting_reaches_the_document(alice):
    run = stored_run(alice, trades=2)
    assert "size: Letter;" in render_report_html(run, for_pdf=True, inputs=stored_inputs(run))


def test_without_trades_or_price_data_the_report_still_renders(alice):
    run = stored_run(alice, trades=0)
    html = render_report_html(
        run,
        for_pdf=True,
        inputs=ReportInputs(trades=[], extras={"has_prices": False}, notes=["Price data could not be loaded"]),
    )
    assert "No trades: the entry conditions never held" in html
    assert "Price data is not available for this run" in html and "Price data could not be loaded" in html


def test_ledger_lines_align_and_colour_the_result_columns(alice):
    run = stored_run(alice, trades=LEDGER_TRADES_PER_ROW + 3)
    ledger = ledger_rows(list(run.trades.order_by("seq")))
    assert ledger["header"].split()[:3] == ["#", "Side", "Entry"]
    rows = ledger["rows"].split("</tr>")[:-1]
    assert len(rows) == 2, f"{LEDGER_TRADES_PER_ROW} trades to a row, then the rest"
    lines = [line for r in rows for line in r.removeprefix("<tr><td>").removesuffix("</td>").split("\n")]
    assert [int(line.split()[0]) for line in lines] == list(range(1, LEDGER_TRADES_PER_ROW + 4))
    assert all('class="win"' in r or 'class="loss"' in r or 'class="flat"' in r for r in lines)
    widths = {len(r.split("<span")[0]) for r in lines}
    assert len(widths) == 1, "every line has the same column layout"
