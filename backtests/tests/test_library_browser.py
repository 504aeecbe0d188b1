"""The strategy library in real headless Chromium against a live server and a real Celery worker:
build a strategy in the builder, save it, edit it and save version 2, run both versions from the
strategy page, and find the two runs (with their versions and metrics) on that page. Screenshots
land in ``var/screenshots``; every request a page makes stays on this host."""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings

from backtests.models import BacktestRun, RunStatus, Strategy

from .test_pages import wait_until

pytestmark = [pytest.mark.e2e]
SCREENSHOT_DIR = Path(settings.VAR_DIR) / "screenshots"
RUN_URL = re.compile(r"/runs/[0-9a-f-]{36}/$")


def browse(base_url: str, tmp_path: Path, seen: dict) -> None:
    """Runs in its own thread (Playwright's sync API keeps an event loop there)."""
    from playwright.sync_api import expect, sync_playwright

    from conftest import WorkerProcess
    from reports.pdf import launch_options

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        try:
            page.set_default_timeout(30_000)
            seen["hosts"], seen["csp"] = set(), []
            page.on("request", lambda request: seen["hosts"].add(urlparse(request.url).hostname))
            page.on(
                "console",
                lambda message: "Content Security Policy" in message.text and seen["csp"].append(message.text),
            )
            page.goto(f"{base_url}/accounts/login/")
            page.fill("#id_username", "alice")
            page.fill("#id_password", "alice-password")
            page.click("button[type=submit]")

            # Build a strategy and save it.
            page.goto(f"{base_url}/run-backtest-v4")
            page.wait_for_selector("body[data-builder=ready]")
            page.fill("#f-market", "EURUSD")
            page.select_option("#f-timeframe", "1h")
            page.select_option("#f-period-mode", "dates")
            page.fill("#f-start", "2024-01-01")
            page.fill("#f-end", "2024-04-01")
            condition = page.locator("[data-condition]").first
            condition.locator("[data-param=period]").fill("10")
            condition.locator("[data-role=operator]").select_option("<")
            condition.locator("[data-role=value]").fill("40")
            page.fill("#f-stop", "0.5")
            page.fill("#f-target", "1")
            page.fill("#f-save-name", "Browser RSI")
            page.click("#save-as")
            expect(page.locator("#save-status")).to_contain_text("as version 1")

            # Edit it: a wider target, saved as version 2.
            page.fill("#f-target", "2")
            page.click("#save-version")
            expect(page.locator("#save-status")).to_contain_text("Saved version 2")
            seen["payload"] = json.loads(page.input_value("#payload"))
            page.screenshot(path=str(SCREENSHOT_DIR / "strategy-builder.png"), full_page=True)

            # Its page: run version 1, then the latest.
            page.click("#editing a")
            page.wait_for_selector("#versions")
            seen["versions"] = page.locator("#versions tbody tr").count()
            page.click('#versions tr[data-version="1"] [data-role=run-version]')
            page.wait_for_url(RUN_URL)
            seen["runs"] = [page.url.rstrip("/").rsplit("/", 1)[1]]
            page.go_back()
            page.wait_for_selector("#run-latest")
            page.click("#run-latest")
            page.wait_for_url(RUN_URL)
            seen["runs"].append(page.url.rstrip("/").rsplit("/", 1)[1])

            # The worker starts now; the second run's page follows it to the end.
            seen["worker"] = WorkerProcess(tmp_path / "worker.log", QM_RENDER_PDF=0)
            wait_until(page, "window.qmProgress && window.qmProgress.includes(100)", timeout=120)
            page.wait_for_selector("#run-strategy a")
            page.click("#run-strategy a")
            page.wait_for_selector("#strategy-runs")
            for _ in range(60):  # the first run may still be finishing
                if page.locator("#strategy-runs .badge.SUCCEEDED").count() == 2:
                    break
                page.wait_for_timeout(1000)
                page.reload()
            seen["rows"] = page.locator("#strategy-runs tbody tr").all_inner_texts()
            seen["row_versions"] = sorted(
                page.locator("#strategy-runs tbody tr").evaluate_all("rows => rows.map(r => r.dataset.version)")
            )
            seen["by_version"] = page.locator("#by-version tbody tr").count()
            seen["overflow"] = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            page.screenshot(path=str(SCREENSHOT_DIR / "strategy-page.png"), full_page=True)
            page.goto(f"{base_url}/strategies/")
            page.screenshot(path=str(SCREENSHOT_DIR / "strategies.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(SCREENSHOT_DIR / "strategy-failure.png"), full_page=True)
            (SCREENSHOT_DIR / "strategy-failure.html").write_text(page.content())
            raise
        finally:
            browser.close()


def test_in_a_real_browser_save_a_strategy_version_it_run_both_versions_and_see_them(
    live_server, transactional_db, alice, tmp_path
):
    from conftest import flush_broker

    flush_broker()
    seen: dict = {}
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(browse, live_server.url, tmp_path, seen).result(timeout=300)
    finally:
        if seen.get("worker"):
            seen["worker"].stop()

    strategy = Strategy.objects.get(owner=alice)
    assert strategy.name == "Browser RSI" and strategy.latest_version == 2 and seen["versions"] == 2
    bodies = {v.number: v.body for v in strategy.versions.all()}
    assert bodies[1]["exit"]["takeProfit"] == 1 and bodies[2]["exit"]["takeProfit"] == 2
    assert bodies[2] == seen["payload"]
    runs = {str(r.id): r for r in BacktestRun.objects.filter(owner=alice)}
    assert set(runs) == set(seen["runs"])
    first, latest = (runs[run_id] for run_id in seen["runs"])
    assert (first.strategy_id, first.strategy_version) == (strategy.id, 1)
    assert (latest.strategy_id, latest.strategy_version) == (strategy.id, 2)
    assert first.request["exit"]["takeProfit"] == 1 and latest.request["exit"]["takeProfit"] == 2
    assert {r.status for r in runs.values()} == {RunStatus.SUCCEEDED}
    assert seen["row_versions"] == ["1", "2"] and len(seen["rows"]) == 2
    assert seen["by_version"] == 2
    assert seen["hosts"] <= {"localhost", "127.0.0.1"}, seen["hosts"]
    assert seen["csp"] == [], "the pages work under the Content-Security-Policy"
    assert seen["overflow"] <= 0
