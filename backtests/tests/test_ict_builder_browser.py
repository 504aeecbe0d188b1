"""The ICT (V5) builder and the admin's run page in real headless Chromium against a live server:
build a setup in the form (the JSON panel follows it and agrees with the server's reading of the
same form) and save it to the library, edit the JSON, load it back into the form and save version
2, submit, see the run (of version 2) wait for a worker, then finish; open it in the admin as a
staff user (a summary with a sparkline, not a dump). The run executes in this process, as in the
other page tests. Screenshots land in ``var/screenshots``; every request a page makes stays on
this host."""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import override_settings

from backtests import services as run_services
from backtests.models import BacktestRun, RunStatus, Strategy
from backtests.strategies.ict_form import ict_body_from_form

from .test_pages import wait_until

pytestmark = [pytest.mark.e2e]
SCREENSHOT_DIR = Path(settings.VAR_DIR) / "screenshots"
RUN_URL = re.compile(r"/runs/([0-9a-f-]{36})/$")
# What the form below is filled with, as the server's form reader takes it.
FORM = {
    "market": "eurusd",
    "timeframe": "15m",
    "direction": "Short",
    "testPeriod": "1mo",
    "session": "",
    "dataSource": "synthetic",
    "entryModel": "order_block",
    "htfBias": "4h",
    "requireMss": "on",
    "stopPlacement": "swing",
    "stopBufferPct": "0.1",
    "targetType": "r",
    "targetR": "3",
    "maxTradesPerSession": "2",
    "strategyName": "Browser OB short",
}
CHECKBOXES = ("requireMss", "requireSweep", "premiumDiscount")  # unticked when not in FORM


def execute(run_id: str) -> None:
    """What a worker does with the run, in a thread of its own (Django refuses the database in a
    thread that runs an event loop)."""
    from django.db import connection

    try:
        run_services.backtest_execute(run_id=run_id)
    finally:
        connection.close()


def browse(base_url: str, seen: dict) -> None:
    """Runs in its own thread (Playwright's sync API keeps an event loop there)."""
    from playwright.sync_api import expect, sync_playwright

    from reports.pdf import launch_options

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        pages = []
        try:

            def open_as(username: str):
                page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
                pages.append(page)
                page.set_default_timeout(30_000)
                page.on("request", lambda request: seen["hosts"].add(urlparse(request.url).hostname))
                page.on("console", lambda m: "Content Security Policy" in m.text and seen["csp"].append(m.text))
                page.goto(f"{base_url}/accounts/login/")
                page.fill("#id_username", username)
                page.fill("#id_password", f"{username}-password")
                page.click("button[type=submit]")
                page.wait_for_url(re.compile(r"/runs/$"))
                return page

            seen["hosts"], seen["csp"] = set(), []
            page = open_as("alice")
            page.click("nav >> text=ICT builder")
            page.wait_for_selector("#ict-form")
            for name in CHECKBOXES:
                page.set_checked(f"#ict-form [name={name}]", name in FORM)
            for name, value in FORM.items():
                if name in CHECKBOXES:
                    continue
                field = page.locator(f"#ict-form [name={name}]")
                if field.evaluate("(el) => el.tagName") == "SELECT":
                    field.select_option(value)
                else:
                    field.fill(value)
            page.click("#json-panel summary")
            seen["form_json"] = json.loads(page.input_value("#payload"))
            page.fill("#f-save-name", "ICT order block")
            page.click("#save-as")
            expect(page.locator("#save-status")).to_contain_text("as version 1")
            page.screenshot(path=str(SCREENSHOT_DIR / "ict-builder.png"), full_page=True)

            # The JSON edited by hand, loaded into the form (the form follows it), saved as version 2.
            edited = {**seen["form_json"], "ict": {**seen["form_json"]["ict"], "target": {"type": "r", "value": 2.5}}}
            page.fill("#payload", json.dumps(edited))
            page.click("#load-json")
            expect(page.locator("#f-target-r")).to_have_value("2.5")
            seen["reloaded_json"] = json.loads(page.input_value("#payload"))
            page.click("#save-version")
            expect(page.locator("#save-status")).to_contain_text("Saved version 2")

            page.click("#submit")
            page.wait_for_url(RUN_URL)
            run_id = RUN_URL.search(page.url).group(1)
            seen["run_id"] = run_id
            seen["queued"] = {"status": page.text_content("#status"), "eta": page.text_content("#eta")}
            seen["waiting_visible"] = page.is_visible("#waiting")

            with ThreadPoolExecutor(max_workers=1) as worker:  # this thread runs Playwright's event loop
                worker.submit(execute, run_id).result(timeout=120)
            wait_until(page, "window.qmProgress && window.qmProgress.includes(100)", timeout=60)
            page.wait_for_selector("[data-kpi=net_return_pct]")
            seen["kpi_trades"] = page.text_content("[data-kpi=trade_count] .value")
            page.screenshot(path=str(SCREENSHOT_DIR / "ict-run.png"), full_page=True)

            # The admin: the runs list fits the screen; the run's page is a summary.
            admin = open_as("root")
            admin.goto(f"{base_url}/admin/backtests/backtestrun/")
            seen["admin_list_overflow"] = admin.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            admin.screenshot(path=str(SCREENSHOT_DIR / "admin-runs.png"), full_page=True)
            admin.click(f'#result_list a[href$="/{run_id}/change/"]')
            admin.wait_for_selector("svg.qm-spark")
            seen["admin_run"] = admin.evaluate(
                """() => ({
                    height: document.documentElement.scrollHeight,
                    overflow: document.documentElement.scrollWidth - window.innerWidth,
                    text: document.getElementById("content").innerText,
                    links: Array.from(document.querySelectorAll("#content a")).map((a) => a.getAttribute("href")),
                })"""
            )
            admin.screenshot(path=str(SCREENSHOT_DIR / "admin-run-detail.png"), full_page=True)
        except Exception:
            for n, failed in enumerate(pages):
                failed.screenshot(path=str(SCREENSHOT_DIR / f"ict-failure-{n}.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_in_a_real_browser_build_an_ict_setup_run_it_and_open_it_in_the_admin(
    live_server, transactional_db, alice, django_user_model
):
    from conftest import flush_broker

    flush_broker()
    django_user_model.objects.create_superuser("root", password="root-password")
    seen: dict = {}
    with override_settings(QM_RENDER_PDF=False), ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(browse, live_server.url, seen).result(timeout=240)

    # The page's form and the server read the same fields into the same V5 body.
    assert seen["form_json"] == ict_body_from_form(FORM)
    assert seen["reloaded_json"]["ict"]["target"] == {"type": "r", "value": 2.5}
    run = BacktestRun.objects.get(id=seen["run_id"])
    assert run.owner == alice and run.status == RunStatus.SUCCEEDED and run.direction == "Short"
    modules = [s["moduleId"] for b in run.request["decisionBlocks"] for s in b["subConfirmations"]]
    assert "order_blocks" in modules and "htf_filter" in modules
    assert run.request["exit"]["takeProfit"] == {"unit": "r", "value": 2.5}, "the JSON loaded into the form ran"
    strategy = Strategy.objects.get(owner=alice)
    assert (strategy.name, strategy.kind, strategy.latest_version) == ("ICT order block", "ict", 2)
    assert strategy.versions.get(number=1).body == seen["form_json"] and strategy.definition == seen["reloaded_json"]
    assert (run.strategy_id, run.strategy_version) == (strategy.id, 2), "the saved version ran, as that version"
    assert seen["queued"]["status"] == "QUEUED" and "waiting for a worker" in seen["queued"]["eta"]
    assert seen["waiting_visible"]
    assert seen["kpi_trades"] == f"{run.trade_count:,}"

    assert seen["admin_list_overflow"] <= 0, "the runs list fits 1,366 px"
    detail = seen["admin_run"]
    assert detail["overflow"] <= 0 and detail["height"] < 4000, detail["height"]
    assert "Net return" in detail["text"] and f"/runs/{run.id}/" in detail["links"]
    assert str(run.equity_curve[len(run.equity_curve) // 2][1]) not in detail["text"], "no dump of the curve"
    assert seen["hosts"] <= {"localhost", "127.0.0.1"}, seen["hosts"]
    assert seen["csp"] == [], "the pages work under the Content-Security-Policy"
