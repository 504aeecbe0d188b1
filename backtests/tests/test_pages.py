"""The browser pages: builder, live run page, results, runs list with filters, compare view;
and once end to end in real headless Chromium against a live server and a real worker."""

import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

from backtests import selectors, services
from backtests.models import BacktestRun, RunStatus
from reports.render import render_report_html
from reports.tests.factories import stored_run

from .factories import v4_body


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


# ---- without a browser ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/run-backtest-v4", "/runs/", "/runs/compare/?ids=a,b"])
def test_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_the_builder_page_offers_markets_timeframes_and_the_example_strategy(alice_client):
    html = alice_client.get("/run-backtest-v4").content.decode()
    assert 'id="builder"' in html and 'id="blocks"' in html and "/api/v1/modules/" in html
    assert '<option value="XAUUSD">' in html and "<option>15m</option>" in html
    payload = json.loads(
        re.search(r'<textarea name="payload"[^>]*>(.*?)</textarea>', html, re.S)
        .group(1)
        .replace("&quot;", '"')
        .replace("&lt;", "<")
        .replace("&gt;", ">")
    )
    assert payload["decisionBlocks"][0]["subConfirmations"][0]["moduleId"] == "rsi"


@pytest.mark.django_db
def test_a_form_post_enqueues_and_answers_303_to_the_run_page(alice_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post("/run-backtest-v4", {"payload": json.dumps(v4_body())})
    run = BacktestRun.objects.get()
    assert response.status_code == 303 and response["Location"] == f"/runs/{run.id}/"
    assert run.status == RunStatus.QUEUED and len(callbacks) == 1


@pytest.mark.django_db
def test_a_bad_strategy_is_shown_in_plain_words_with_its_code(alice_client):
    body = v4_body(decisionBlocks__0__subConfirmations__0__config__period=1)
    response = alice_client.post("/run-backtest-v4", {"payload": json.dumps(body)})
    html = response.content.decode()
    assert response.status_code == 400 and "INVALID_CONFIG" in html
    assert "A module setting is out of range" in html and BacktestRun.objects.count() == 0
    assert "&quot;period&quot;: 1" in html, "the submitted strategy is kept for fixing"


@pytest.mark.django_db
def test_a_running_run_shows_progress_stage_and_cancel(alice_client, alice):
    run = stored_run(alice, status="RUNNING", progress=42, stage="simulating")
    html = alice_client.get(f"/runs/{run.id}/").content.decode()
    assert 'style="width: 42%"' in html and "Simulating trades" in html and 'id="eta"' in html
    assert f"/api/v1/backtests/{run.id}/cancel" in html


@pytest.mark.django_db
def test_a_failed_run_explains_the_error_in_plain_words_with_the_code(alice_client, alice):
    run = stored_run(
        alice,
        status="FAILED",
        error_code="INSUFFICIENT_DATA",
        error_message="no XAUUSD 1h data between 2024-06-01 and 2024-06-02 (0 bars)",
    )
    html = alice_client.get(f"/runs/{run.id}/").content.decode()
    assert "There was not enough market data in the chosen period" in html
    assert '<span class="code" id="error-code">INSUFFICIENT_DATA</span>' in html and "(0 bars)" in html


@pytest.mark.django_db
def test_a_succeeded_run_shows_kpis_charts_trades_and_the_pdf_link(alice_client, alice):
    run = stored_run(alice, trades=60)
    run.artifacts.create(kind="report_pdf", storage_key="reports/x.pdf", bytes=1, sha256="0" * 64)
    html = alice_client.get(f"/runs/{run.id}/").content.decode()
    assert f'href="/api/v1/backtests/{run.id}/report.pdf"' in html
    assert 'data-kpi="pvs"' in html and "91" in html and html.count('class="qm-chart"') >= 7
    assert 'id="trades-table"' in html and 'data-pager="trades"' in html


def refuse_market_data(monkeypatch) -> None:
    """From here on every way into market data (the loader, the manager, the providers) raises."""
    from marketdata import services as marketdata_services
    from marketdata.manager import DataManager
    from marketdata.providers.synthetic import SyntheticProvider
    from marketdata.providers.yahoo import YahooProvider

    def refuse(*args, **kwargs):
        raise AssertionError("rendering a stored run touched market data")

    monkeypatch.setattr(marketdata_services, "market_data_load", refuse)
    for owner, name in (
        (DataManager, "get_data"),
        (DataManager, "get_stored"),
        (SyntheticProvider, "download"),
        (YahooProvider, "download"),
    ):
        monkeypatch.setattr(owner, name, refuse)


def has_price_charts(html: str) -> bool:
    return all(text in html for text in ('id="chart-price-1"', "Best trade", "Worst trade", "XAUUSD buy and hold"))


@pytest.mark.django_db
def test_the_run_page_renders_the_price_charts_from_stored_results_alone(alice_client, alice, monkeypatch):
    run = stored_run(alice, trades=30)
    refuse_market_data(monkeypatch)
    response = alice_client.get(f"/runs/{run.id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert has_price_charts(html) and 'id="chart-price-2"' in html
    assert "could not be loaded" not in html and "stored before" not in html


@pytest.mark.django_db
def test_the_pdf_renders_the_price_charts_from_stored_results_alone(alice, monkeypatch):
    run = stored_run(alice, trades=30)
    refuse_market_data(monkeypatch)
    assert has_price_charts(render_report_html(run, for_pdf=True, inputs=selectors.report_inputs_for_run(run=run)))
    printed = []
    monkeypatch.setattr("reports.pdf.html_to_pdf", lambda html, **_: printed.append(html) or b"%PDF-1.7 stub")
    assert services.report_render_pdf(run_id=run.id) is not None
    assert has_price_charts(printed[0])


@pytest.mark.django_db
def test_a_run_stored_before_report_data_renders_without_price_charts_and_says_so(alice_client, alice, monkeypatch):
    run = stored_run(alice, trades=30, report_data=None)
    refuse_market_data(monkeypatch)
    response = alice_client.get(f"/runs/{run.id}/")
    pdf_html = render_report_html(run, for_pdf=True, inputs=selectors.report_inputs_for_run(run=run))
    assert response.status_code == 200
    for html in (response.content.decode(), pdf_html):
        assert 'id="chart-price-' not in html and "Buy and hold" not in html
        assert "stored before the report kept its price data" in html
        assert 'data-kpi="pvs"' in html and 'id="chart-equity"' in html and "Trade list (30 trades)" in html


@pytest.mark.django_db
def test_another_users_run_and_compare_are_404(client, alice, bob):
    run, other = stored_run(alice, trades=2), stored_run(alice, trades=2)
    client.force_login(bob)
    assert client.get(f"/runs/{run.id}/").status_code == 404
    assert client.get(f"/runs/compare/?ids={run.id}&ids={other.id}").status_code == 404


@pytest.mark.django_db
def test_the_runs_list_filters_by_status_market_and_strategy(alice_client, alice, bob):
    gold = stored_run(alice, trades=2, strategy_name="Gold dip")
    euro = stored_run(
        alice,
        trades=2,
        market="EURUSD",
        strategy_name="Euro trend",
        metrics={"strategy_text": "Long: MACD(12, 26, 9) > 0"},
    )
    failed = stored_run(alice, status="FAILED", market="EURUSD")
    stored_run(bob, trades=2)

    def listed(query=""):
        html = alice_client.get(f"/runs/{query}").content.decode()
        return set(re.findall(r'data-run="([0-9a-f-]+)"', html))

    assert listed() == {str(gold.id), str(euro.id), str(failed.id)}
    assert listed("?status=FAILED") == {str(failed.id)}
    assert listed("?market=eurusd") == {str(euro.id), str(failed.id)}
    assert listed("?strategy=macd") == {str(euro.id)}
    assert listed("?strategy=rsi") == {str(gold.id), str(failed.id)}
    assert listed("?status=SUCCEEDED&market=EURUSD") == {str(euro.id)}


@pytest.mark.django_db
def test_compare_shows_2_to_4_runs_side_by_side_with_overlaid_equity(alice_client, alice):
    runs = [
        stored_run(alice, trades=10 + i, metrics={"net_return_pct": r, "max_drawdown_pct": d, "pvs": None})
        for i, (r, d) in enumerate([(5.0, 9.0), (12.0, 4.0), (-3.0, 15.0)])
    ]
    html = alice_client.get("/runs/compare/?" + "&".join(f"ids={r.id}" for r in runs)).content.decode()
    net = re.search(r'data-kpi="net_return_pct">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r"[+-]\d+\.\d+%", net) == ["+5.00%", "+12.00%", "-3.00%"]
    assert 'best">+12.00%' in net
    assert 'best">4.00%' in re.search(r'data-kpi="max_drawdown_pct">(.*?)</tr>', html, re.S).group(1), "lower is better"
    chart = re.search(r'<div id="compare-chart">(.*?)</div>', html, re.S).group(1)
    assert chart.count('stroke-width="1.5"') == 3 and "#1 XAUUSD 1h" in chart


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 5])
def test_compare_needs_2_to_4_runs(alice_client, alice, count):
    ids = "&".join(f"ids={stored_run(alice, trades=1).id}" for _ in range(count))
    response = alice_client.get(f"/runs/compare/?{ids}")
    assert response.status_code == 400 and b"Pick 2 to 4 runs" in response.content


# ---- in a real browser ------------------------------------------------------------------------

SCREENSHOT_DIR = Path(settings.VAR_DIR) / "screenshots"


def wait_until(page, expression: str, timeout: float) -> None:
    """``page.wait_for_function`` without it: that one evals its predicate inside the page,
    which the Content-Security-Policy forbids; ``page.evaluate`` goes through the debugger."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout} s: {expression}")
        page.wait_for_timeout(100)


def browse_submit_watch_and_download(base_url: str, tmp_path: Path, seen: dict) -> None:
    """Runs in its own thread (Playwright's sync API keeps an event loop there): log in, build
    the strategy in the form, submit, start the worker while the run page shows it queued,
    watch the bar reach 100 %, read the KPIs, screenshot the results, download the PDF."""
    from playwright.sync_api import expect, sync_playwright

    from conftest import WorkerProcess
    from reports.pdf import launch_options

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.set_default_timeout(30_000)
            seen["csp_violations"] = []
            page.on(
                "console",
                lambda message: (
                    "Content Security Policy" in message.text
                    and seen["csp_violations"].append(f"{page.url}: {message.text}")
                ),
            )
            page.goto(f"{base_url}/accounts/login/")
            page.fill("#id_username", "alice")
            page.fill("#id_password", "alice-password")
            page.click("button[type=submit]")
            page.goto(f"{base_url}/run-backtest-v4")
            page.wait_for_selector("body[data-builder=ready]")
            page.fill("#f-market", "EURUSD")
            page.select_option("#f-timeframe", "15m")
            page.select_option("#f-period-mode", "dates")
            page.fill("#f-start", "2024-01-01")
            page.fill("#f-end", "2024-04-01")
            condition = page.locator("[data-condition]").first
            expect(condition.locator("[data-role=module]")).to_have_value("rsi")
            condition.locator("[data-param=period]").fill("10")
            condition.locator("[data-role=operator]").select_option("<")
            condition.locator("[data-role=value]").fill("35")
            page.fill("#f-stop", "0.4")
            page.fill("#f-target", "0.8")
            page.fill("#f-name", "Browser RSI test")
            seen["payload"] = json.loads(page.input_value("#payload"))
            page.click("#submit")
            page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}/$"))
            seen["run_id"] = page.url.rstrip("/").rsplit("/", 1)[1]
            seen["first_status"] = page.text_content("#status")
            seen["worker"] = WorkerProcess(tmp_path / "worker.log")  # the run waited, queued, until now
            wait_until(page, "window.qmProgress && window.qmProgress.includes(100)", timeout=90)
            page.wait_for_selector("[data-kpi=net_return_pct]")
            seen["progress"] = page.evaluate("window.qmProgress")
            seen["eta"] = page.evaluate("window.qmEta")
            seen["kpis"] = {
                key: page.text_content(f"[data-kpi={key}] .value")
                for key in ("net_return_pct", "win_rate", "trade_count", "pvs")
            }
            seen["layout"] = page.evaluate("""() => ({
                overflow: document.documentElement.scrollWidth - window.innerWidth,
                charts: Array.from(document.querySelectorAll('.qm-chart')).map(c => c.getBoundingClientRect().width),
                cards: document.querySelectorAll('.kpi').length,
                pager: document.querySelector('[data-page=label]').textContent})""")
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            seen["screenshot"] = SCREENSHOT_DIR / "results.png"
            page.screenshot(path=str(seen["screenshot"]), full_page=True)
            with page.expect_download() as download:
                page.click("#pdf-link")
            seen["pdf"] = tmp_path / "report.pdf"
            download.value.save_as(seen["pdf"])
            page.goto(f"{base_url}/runs/?status=SUCCEEDED")
            page.screenshot(path=str(SCREENSHOT_DIR / "runs.png"), full_page=True)
            for box in page.locator("input[name=ids]").all():
                box.check()
            page.click("#compare-button")
            page.wait_for_selector("#compare-chart svg")
            seen["compared"] = page.locator("#compare-table th.run").count()
            page.screenshot(path=str(SCREENSHOT_DIR / "compare.png"), full_page=True)
            page.goto(f"{base_url}/api/v1/docs/")
            page.wait_for_selector("#swagger-ui .opblock")  # the UI ran and read the schema
        except Exception:
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT_DIR / "failure.png"), full_page=True)
            (SCREENSHOT_DIR / "failure.html").write_text(page.content())
            raise
        finally:
            browser.close()


@pytest.mark.e2e
def test_in_a_real_browser_build_submit_watch_progress_see_kpis_and_download_the_pdf(
    live_server, transactional_db, alice, tmp_path
):
    from conftest import flush_broker

    flush_broker()
    stored_run(alice, trades=25, strategy_name="Stored for compare")
    seen: dict = {}
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(browse_submit_watch_and_download, live_server.url, tmp_path, seen).result(timeout=240)
    finally:
        if seen.get("worker"):
            seen["worker"].stop()

    block = seen["payload"]["decisionBlocks"][0]["subConfirmations"][0]
    assert seen["payload"]["marketContext"]["market"] == "EURUSD"
    assert block["config"] == {"period": 10, "overbought": 70, "oversold": 30, "operator": "<", "value": 35}
    run = BacktestRun.objects.get(id=seen["run_id"])
    assert (
        run.owner == alice and run.status == RunStatus.SUCCEEDED and run.request["strategyName"] == "Browser RSI test"
    )

    assert seen["first_status"] == "QUEUED"
    progress = seen["progress"]
    assert progress[-1] == 100 and progress == sorted(progress) and progress[0] < 100, progress
    assert "waiting for a worker" in seen["eta"], seen["eta"]

    metrics = run.metrics
    assert seen["kpis"]["net_return_pct"] == f"{metrics['net_return_pct']:+.2f}%"
    assert seen["kpis"]["win_rate"] == f"{metrics['win_rate']:.1f}%"
    assert seen["kpis"]["trade_count"] == f"{run.trade_count:,}"

    layout = seen["layout"]
    assert layout["overflow"] <= 0, "nothing sticks out sideways"
    assert layout["cards"] == 12 and len(layout["charts"]) >= 7 and min(layout["charts"]) > 250
    assert layout["pager"].startswith("Page 1 of ")
    assert seen["screenshot"].stat().st_size > 50_000

    assert seen["compared"] == 2
    assert seen["csp_violations"] == [], "the pages work under the Content-Security-Policy"

    info = subprocess.run(["pdfinfo", str(seen["pdf"])], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    text = subprocess.run(
        ["pdftotext", "-layout", str(seen["pdf"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert pages == text.count("\f") >= 6
    for expected in (
        "Browser RSI test",
        "EURUSD · 15m · Long",
        str(run.id),
        seen["kpis"]["win_rate"],
        "Trade list",
        "Entry time (UTC)",
        "Appendix: metric definitions",
        f"Page 1 of {pages}",
    ):
        assert expected in text, expected
