"""The PDF in real Chromium: one warm browser per process, restarted when it dies, pages that
fit A4 and Letter with the trade list's header on every page. Checked with poppler-utils."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.test import override_settings

from backtests import services
from backtests.models import Artifact
from reports import pdf
from reports.render import render_report_html

from .factories import stored_inputs, stored_run

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def pdf_facts(content: bytes, tmp_path: Path) -> tuple[dict, list[str]]:
    path = tmp_path / f"report-{time.monotonic_ns()}.pdf"
    path.write_bytes(content)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    facts = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, v in facts.items()}, text.split("\f")[:-1]


def chromium_pids() -> list[int]:
    """Chromium processes started by this test process (through Playwright's driver)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), (entry / "cmdline").read_bytes())
            except (OSError, IndexError, ValueError):
                continue

    def descends(pid):
        while pid in parents and pid > 1:
            pid = parents[pid][0]
            if pid == os.getpid():
                return True
        return False

    return [pid for pid, (_, cmd) in parents.items() if b"chrom" in cmd and b"--type=" not in cmd and descends(pid)]


@pytest.mark.parametrize("page_size, width_pts, height_pts", [("A4", 595, 842), ("Letter", 612, 792)])
def test_the_report_prints_on_the_page_size_with_the_trade_header_on_every_page(
    alice, tmp_path, page_size, width_pts, height_pts
):
    run = stored_run(alice, trades=150)
    with override_settings(QM_REPORT_PAGE_SIZE=page_size):
        content = pdf.html_to_pdf(
            render_report_html(run, for_pdf=True, inputs=stored_inputs(run)), page_format=page_size
        )
    info, pages = pdf_facts(content, tmp_path)
    width, height = (float(v) for v in info["Page size"].split()[0:3:2])
    assert (round(width), round(height)) == (width_pts, height_pts)
    assert int(info["Pages"]) == len(pages) >= 6
    assert "XAUUSD" in pages[0] and "RSI dip" in pages[0] and "strong statistical evidence" in pages[0]
    assert f"Page 1 of {len(pages)}" in pages[0]
    at = next(i for i, p in enumerate(pages) if "Trades in context" in p)
    in_context = "".join(pages[at : at + 2])  # the section flows on from the page before
    assert "Trade results in R" in in_context and "by hour of entry" in in_context, "the charts fill on"
    trade_pages = [p for p in pages if " long " in p and "signal" in p]
    assert len(trade_pages) >= 2
    assert all("Entry time (UTC)" in p for p in trade_pages), "the trade header repeats on every page"
    listed = {
        int(line.split()[0])
        for p in trade_pages
        for line in p.splitlines()
        if line.strip()[:1].isdigit() and " long " in line
    }
    assert listed == set(range(1, 151)), "every trade is listed once, none clipped"
    assert "Appendix: metric definitions" in pages[-1] or "Appendix: metric definitions" in pages[-2]


def test_each_font_is_embedded_once(alice, tmp_path):
    """The checksum's <code> names the trade list's monospaced font rather than the generic
    ``monospace`` (the same file, which Chromium embedded as a second subset of it)."""
    run = stored_run(alice, trades=12, data_checksum="f022f5f268ca4b5b" * 4)
    html = render_report_html(run, for_pdf=True, inputs=stored_inputs(run))
    assert "<code>f022f5f268ca4b5b…</code>" in html
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.html_to_pdf(html))
    listing = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    fonts = [line.split()[0].split("+")[-1] for line in listing.splitlines()[2:]]
    assert "DejaVuSansMono" in fonts and len(fonts) == len(set(fonts)), fonts


def test_one_warm_browser_serves_every_pdf_and_a_dead_one_is_replaced(tmp_path):
    html = "<!doctype html><html><body><h1>Hello PDF</h1></body></html>"
    pdf.html_to_pdf(html)
    launches = pdf.browser_launches()
    victims = chromium_pids()
    assert victims, "the warm browser is a child of this process"
    for _ in range(3):  # how fast a warm PDF is: bench/report.py
        assert pdf.html_to_pdf(html).startswith(b"%PDF")
    assert pdf.browser_launches() == launches, "no new browser for later PDFs"
    assert chromium_pids() == victims, "the same Chromium process printed them all"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    _, pages = pdf_facts(pdf.html_to_pdf(html), tmp_path)
    assert "Hello PDF" in pages[0]
    assert pdf.browser_launches() == launches + 1


def test_the_worker_shutdown_hook_closes_the_browser():
    from workers.signals import close_browser

    pdf.html_to_pdf("<p>warm</p>")
    assert chromium_pids()
    close_browser()
    deadline = time.monotonic() + 10
    while chromium_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert chromium_pids() == []


def test_a_missing_chromium_is_recorded_on_the_run_and_the_report_can_be_regenerated(alice, alice_api, client):
    run = stored_run(alice, trades=5)
    pdf.shutdown_browser()
    try:
        with override_settings(QM_CHROMIUM_PATH="/bin/false"):
            assert services.report_render_pdf(run_id=run.id) is None
    finally:
        pdf.shutdown_browser()
    run.refresh_from_db()
    assert "Chromium could not render the report" in run.report_error
    assert run.status == "SUCCEEDED" and run.trades.count() == 5, "the results stay saved"
    client.force_login(alice)
    page = client.get(f"/runs/{run.id}/")
    assert b"The PDF is not available" in page.content and b"Render the PDF again" in page.content

    response = alice_api.post(f"/api/v1/backtests/{run.id}/report")
    assert response.status_code == 200, response.content
    run.refresh_from_db()
    assert run.report_error == "" and Artifact.objects.filter(run=run, kind="report_pdf").exists()


def test_the_bar_moves_while_the_report_renders_and_the_run_then_succeeds(alice, monkeypatch):
    """85 % when the results are stored, 92 % once the report's HTML is built and Chromium prints
    it, 100 % with the PDF stored."""
    from backtests.models import BacktestRun

    run = stored_run(alice, trades=5)
    BacktestRun.objects.filter(id=run.id).update(
        status="RUNNING", stage="rendering_report", progress=85, lease_token="t"
    )
    seen = []
    real = pdf.html_to_pdf

    def printing(html, **kwargs):  # the real Chromium, with a look at the bar first
        seen.append(BacktestRun.objects.values_list("progress", "stage").get(id=run.id))
        return real(html, **kwargs)

    monkeypatch.setattr(pdf, "html_to_pdf", printing)
    assert services.backtest_finish_report(run_id=run.id) == "SUCCEEDED"
    run.refresh_from_db()
    assert seen == [(services.HTML_READY_PROGRESS, "rendering_report")] and 85 < services.HTML_READY_PROGRESS < 100
    assert (run.status, run.progress) == ("SUCCEEDED", 100)
    assert Artifact.objects.filter(run=run, kind=Artifact.Kind.REPORT_PDF).exists()


def test_a_printed_document_is_hidden_from_the_screen_and_keeps_its_mode():
    hidden = pdf.SCREEN_HIDDEN
    document = '<!doctype html><html lang="en"><head><meta charset="utf-8"></head><body><header>x</header></body>'
    assert pdf.printable(document) == document.replace("<head>", "<head>" + hidden)
    assert pdf.printable("<!DOCTYPE html><p>no head</p>") == "<!DOCTYPE html>" + hidden + "<p>no head</p>"
    assert pdf.printable("<p>fragment</p>") == hidden + "<p>fragment</p>"
    assert pdf.printable("<html><header>h</header></html>").startswith(hidden), "a <header> is not the head"
