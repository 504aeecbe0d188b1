"""The PDF's layout, measured on the printed pages (real Chromium, then poppler): the cover holds the
KPI grid and the equity chart; the benchmark and Monte Carlo sections start a page of their own
only when they have content; no page but the last is more than half empty; the trade list says
what P&L % means. Each page's fill is the lowest inked row of its body (between the top and the
bottom margins, so the footer does not count) in a 40 dpi greyscale rendering."""

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from backtests.models import Trade
from backtests.services import run_montecarlo
from reports import pdf
from reports.render import render_report_html

from .factories import stored_inputs, stored_run

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

DPI = 40
PAGE_MM = {"A4": 297.0, "Letter": 279.4}
TOP_MM, BOTTOM_MM = 13.0, 15.0  # reports/templates/reports/report.html's @page margins


def with_montecarlo(run):
    pnl = list(Trade.objects.filter(run=run).order_by("seq").values_list("pnl", flat=True))
    run.montecarlo = run_montecarlo(trades=pd.DataFrame({"pnl": pnl}), initial_capital=10_000.0)
    run.save(update_fields=["montecarlo"])
    return run


def printed(run, tmp_path: Path, page_size: str = "A4") -> tuple[list[str], list[float]]:
    """(each page's text, each page's fill: the share of its body down to the lowest ink)."""
    html = render_report_html(run, for_pdf=True, inputs=stored_inputs(run), page_size=page_size)
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.html_to_pdf(html, page_format=page_size))
    shots = Path(settings.VAR_DIR) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    (shots / f"layout-{run.trade_count}-trades-{page_size}.pdf").write_bytes(path.read_bytes())
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")[:-1]
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", str(path), str(tmp_path / "page")], check=True)
    fills = []
    for image in sorted(tmp_path.glob("page-*.pgm")):
        ink = np.asarray(_pgm(image)) < 200
        per_mm = ink.shape[0] / PAGE_MM[page_size]
        top, bottom = int(TOP_MM * per_mm), int((PAGE_MM[page_size] - BOTTOM_MM) * per_mm)
        rows = np.flatnonzero(ink[top:bottom].any(axis=1))
        fills.append(float(rows[-1] + 1) / (bottom - top) if len(rows) else 0.0)
    assert len(fills) == len(pages)
    return pages, fills


def _pgm(path: Path) -> np.ndarray:
    """A binary PGM (P5, 8-bit) as pdftoppm -gray writes it."""
    data = path.read_bytes()
    fields, start = [], 0
    while len(fields) < 4:
        end = data.index(b"\n", start)
        line = data[start:end].split(b"#")[0].split()
        fields += line
        start = end + 1
    width, height = int(fields[1]), int(fields[2])
    return np.frombuffer(data[start : start + width * height], dtype=np.uint8).reshape(height, width)


def starts_page(pages: list[str], heading: str) -> bool:
    """Whether ``heading`` is the first line printed on some page."""
    return any(page.strip().splitlines()[0].strip().startswith(heading) for page in pages if page.strip())


def assert_no_half_empty_page(pages: list[str], fills: list[float]) -> None:
    for number, fill in enumerate(fills[:-1], start=1):
        first = pages[number - 1].strip().splitlines()[0].strip() if pages[number - 1].strip() else ""
        assert fill >= 0.5, f"page {number} of {len(fills)} is {fill:.0%} full (starts: {first!r}); fills {fills}"


@pytest.mark.parametrize("page_size", ["A4", "Letter"])
def test_a_ten_trade_run_fills_its_pages_and_gives_both_sections_a_page(alice, tmp_path, page_size):
    run = with_montecarlo(stored_run(alice, trades=10))
    pages, fills = printed(run, tmp_path, page_size)
    cover = pages[0]
    assert "Summary" in cover and "Equity against XAUUSD buy and hold" in cover, "the cover holds KPIs and equity"
    assert "MAX DRAWDOWN" in cover.upper() and "BUY & HOLD" in cover.upper()
    assert starts_page(pages, "Against the benchmark: XAUUSD buy and hold")
    assert starts_page(pages, "Monte Carlo robustness")
    assert "Rolling 90-day Sharpe" in "".join(pages) and "Rolling 90-day beta" in "".join(pages)
    assert_no_half_empty_page(pages, fills)
    listing = next(page for page in pages if "Trade list (10 trades)" in page)
    note = " ".join("".join(pages).split())
    assert "Trade list (10 trades)" in listing
    assert "P&L % is the trade's own return on the position it opened" in note
    assert "not a percent of account equity" in note


def test_a_run_without_trades_has_no_monte_carlo_page(alice, tmp_path):
    run = stored_run(alice, trades=0)
    pages, fills = printed(run, tmp_path)
    text = "".join(pages)
    assert "Monte Carlo robustness" not in text
    assert "P&L % is the trade's own return" not in text, "no trades, no footer about them"
    assert_no_half_empty_page(pages, fills)


def test_a_benchmark_without_rolling_points_shares_a_page(alice, tmp_path):
    """A run shorter than the rolling window: its benchmark figures flow with the performance."""
    run = with_montecarlo(stored_run(alice, trades=10))
    run.report_data = dict(run.report_data, rolling={"window_days": 90, "time": [], "sharpe": [], "beta": []})
    run.save(update_fields=["report_data"])
    pages, fills = printed(run, tmp_path)
    text = "".join(pages)
    assert "Against the benchmark: XAUUSD buy and hold" in text
    assert not starts_page(pages, "Against the benchmark")
    assert "Rolling 90-day Sharpe and beta need more than 90 days of data" in " ".join(text.split())
    assert_no_half_empty_page(pages, fills)


def test_a_long_report_fills_its_pages(alice, tmp_path):
    run = with_montecarlo(stored_run(alice, trades=200, market="EURUSD"))
    pages, fills = printed(run, tmp_path)
    assert "Equity against EURUSD buy and hold" in pages[0]
    assert_no_half_empty_page(pages, fills)
