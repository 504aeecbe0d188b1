"""The builder's markets multi-select, in real headless Chromium against a live server."""

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from backtests.models import BacktestRun, RunStatus


def build_a_portfolio(base_url: str, seen: dict) -> None:
    from playwright.sync_api import sync_playwright

    from reports.pdf import launch_options

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(f"{base_url}/accounts/login/")
            page.fill("#id_username", "alice")
            page.fill("#id_password", "alice-password")
            page.click("button[type=submit]")
            page.goto(f"{base_url}/run-backtest-v4")
            page.wait_for_selector("body[data-builder=ready]")
            page.select_option("#f-markets", ["EURUSD", "XAUUSD", "BTCUSD"])
            page.fill("#f-max-open", "2")
            page.select_option("#f-allocation", "risk_parity")
            seen["payload"] = json.loads(page.input_value("#payload"))
            page.select_option("#f-markets", [])  # none selected: back to one market
            seen["single"] = json.loads(page.input_value("#payload"))
            page.select_option("#f-markets", ["EURUSD", "XAUUSD", "BTCUSD"])
            page.click("#submit")
            page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}/$"))
            seen["run_id"] = page.url.rstrip("/").rsplit("/", 1)[1]
        finally:
            browser.close()


@pytest.mark.e2e
def test_the_builder_submits_a_portfolio_from_the_markets_multi_select(live_server, transactional_db, alice):
    seen: dict = {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(build_a_portfolio, live_server.url, seen).result(timeout=120)
    context = seen["payload"]["marketContext"]
    assert context["markets"] == ["BTCUSD", "EURUSD", "XAUUSD"] and "market" not in context
    assert seen["payload"]["portfolio"] == {"allocation": "risk_parity", "maxOpenPositions": 2}
    assert "markets" not in seen["single"]["marketContext"] and "portfolio" not in seen["single"]
    run = BacktestRun.objects.get(id=seen["run_id"])
    assert run.owner == alice and run.status == RunStatus.QUEUED
    assert run.request["marketContext"]["markets"] == ["BTCUSD", "EURUSD", "XAUUSD"]
