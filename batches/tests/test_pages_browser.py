"""The batch and schedule pages in real headless Chromium against a live server and a real
Celery worker: optimise a run (tick parameters, see the combination count), watch the batch
finish on its live page, sort its results and open the best run; open a window of a
walk-forward; create a schedule from the batch and pause it. Screenshots land in
``var/screenshots``; every request a page makes stays on this host."""

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import override_settings

from backtests import services as run_services
from backtests.models import BacktestRun, RunStatus
from backtests.tests.factories import v4_body
from backtests.tests.test_pages import wait_until
from batches.models import Batch, BatchStatus, Schedule
from batches.services import lifecycle
from reports.tests.factories import stored_run

pytestmark = [pytest.mark.e2e]
PERIOD = "decisionBlocks[0].subConfirmations[0].config.period"
TP = "exit.takeProfit"
SCREENSHOT_DIR = Path(settings.VAR_DIR) / "screenshots"
UUID = r"[0-9a-f-]{36}"


def sweep_range(page, path: str, start: str, stop: str, step: str) -> None:
    row = page.locator(f'[data-path="{path}"]')
    row.locator("input[type=checkbox]").check()
    row.locator("input[name$=_from]").fill(start)
    row.locator("input[name$=_to]").fill(stop)
    row.locator("input[name$=_step]").fill(step)


def browse(base_url: str, tmp_path: Path, seen: dict, run_id: str, walk_forward_id: str) -> None:
    """Runs in its own thread (Playwright's sync API keeps an event loop there)."""
    from playwright.sync_api import sync_playwright

    from conftest import WorkerProcess
    from reports.pdf import launch_options

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        try:
            page.set_default_timeout(30_000)
            seen["hosts"], seen["csp"], seen["overflow"] = set(), [], {}
            page.on("request", lambda request: seen["hosts"].add(urlparse(request.url).hostname))
            page.on(
                "console",
                lambda message: "Content Security Policy" in message.text and seen["csp"].append(message.text),
            )

            def shot(name: str) -> None:
                seen["overflow"][name] = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)

            page.goto(f"{base_url}/accounts/login/")
            page.fill("#id_username", "alice")
            page.fill("#id_password", "alice-password")
            page.click("button[type=submit]")

            # Optimise this run: two parameters, the count follows what is ticked.
            page.goto(f"{base_url}/runs/{run_id}/")
            page.click("#optimise-link")
            page.wait_for_selector("#sweep-form")
            sweep_range(page, PERIOD, "10", "14", "2")
            seen["count_one"] = page.text_content("#combinations")
            sweep_range(page, TP, "1.5", "3", "1.5")
            seen["count_two"] = page.text_content("#combinations")
            seen["estimate"] = page.text_content("#eta-estimate")
            page.fill("#id_name", "Browser sweep")
            shot("batch-new")
            page.click("#submit-batch")
            page.wait_for_url(re.compile(rf"/batches/{UUID}/$"))
            seen["batch_id"] = page.url.rstrip("/").rsplit("/", 1)[1]
            seen["first_status"] = page.text_content("#status")

            # The worker starts now: the page follows the batch to its end without a reload.
            seen["worker"] = WorkerProcess(tmp_path / "worker.log", QM_RENDER_PDF=0, QM_BATCH_RENDER_PDF=0)
            wait_until(page, "document.getElementById('batch').dataset.status !== 'RUNNING'", timeout=150)
            page.wait_for_selector("#best-run-link")
            seen["progress"] = page.evaluate("window.qmBatchProgress")
            seen["rows"] = page.locator("#results-table tbody tr").count()
            seen["heatmap"] = page.locator("#heatmap svg").count()
            shot("batch")
            page.click("[data-sort=trade_count]")
            page.wait_for_url(re.compile(r"sort=trade_count"))
            seen["trades_sorted"] = [
                int(t) for t in page.locator("#results-table tbody tr td:nth-child(4)").all_text_contents()
            ]
            page.click("#best-run-link")
            page.wait_for_url(re.compile(rf"/runs/{UUID}/$"))
            seen["best_run_page"] = page.url.rstrip("/").rsplit("/", 1)[1]

            # A walk-forward: the windows, then one window with its runs.
            page.goto(f"{base_url}/batches/{walk_forward_id}/")
            page.wait_for_selector("#windows-table")
            shot("walk-forward")
            page.click("#windows-table >> text=Window 2")
            page.wait_for_selector("#window-title")
            seen["window_title"] = page.text_content("#window-title")
            seen["window_rows"] = page.locator("#results-table tbody tr").count()
            seen["oos_link"] = page.get_attribute("#oos-run a", "href")
            shot("walk-forward-window")

            # A schedule from the batch, then paused.
            page.goto(f"{base_url}/batches/{seen['batch_id']}/")
            page.click("#schedule-link")
            page.wait_for_selector("#schedule-form")
            page.fill("#id_name", "Weekday browser sweep")
            page.click("#save-schedule")
            page.wait_for_url(re.compile(r"/schedules/\d+/$"))
            page.click("#toggle")
            page.wait_for_selector(".badge.paused")
            page.goto(f"{base_url}/schedules/")
            seen["schedule_state"] = page.text_content("#schedules-table [data-role=state]")
            shot("schedules")

            page.goto(f"{base_url}/runs/")
            seen["batch_rows"] = page.locator("tr.batch-row").count()
            shot("runs-grouped")
            page.goto(f"{base_url}/batches/")
            shot("batches")
        except Exception:
            page.screenshot(path=str(SCREENSHOT_DIR / "batch-failure.png"), full_page=True)
            (SCREENSHOT_DIR / "batch-failure.html").write_text(page.content())
            raise
        finally:
            browser.close()


def finished_walk_forward(owner, monkeypatch) -> Batch:
    """A walk-forward of two windows, run in this process (no worker, no chord)."""
    body = v4_body(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-06-01T00:00:00Z")
    with monkeypatch.context() as patch, override_settings(QM_RENDER_PDF=False, QM_BATCH_RENDER_PDF=False):
        patch.setattr(lifecycle, "batch_dispatch", lambda **kw: True)
        batch = lifecycle.batch_create(
            user=owner,
            definition={
                "name": "Browser walk-forward",
                "mode": "walk_forward",
                "strategy": body,
                "grid": {PERIOD: [7, 14]},
                "walkForward": {"inSample": "3mo", "outOfSample": "1mo"},
            },
        )
        for _ in range(3):
            for run in BacktestRun.objects.filter(batch=batch, status=RunStatus.QUEUED):
                run_services.backtest_execute(run_id=run.id)
            lifecycle.batch_advance(batch_id=batch.id)
    batch.refresh_from_db()
    return batch


def test_in_a_real_browser_optimise_a_run_watch_the_batch_open_a_window_and_pause_a_schedule(
    live_server, transactional_db, alice, tmp_path, monkeypatch
):
    from conftest import flush_broker

    flush_broker()
    source = stored_run(alice, strategy_name="Browser source")
    walk_forward = finished_walk_forward(alice, monkeypatch)
    assert walk_forward.status == BatchStatus.SUCCEEDED
    seen: dict = {}
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(browse, live_server.url, tmp_path, seen, str(source.id), str(walk_forward.id)).result(
                timeout=300
            )
    finally:
        if seen.get("worker"):
            seen["worker"].stop()

    assert seen["count_one"].startswith("3 combinations") and seen["count_two"].startswith("6 combinations")
    assert "at this run's pace" in seen["estimate"]
    batch = Batch.objects.get(id=seen["batch_id"])
    assert batch.owner == alice and batch.name == "Browser sweep" and batch.status == BatchStatus.SUCCEEDED
    assert batch.definition["grid"] == {PERIOD: [10, 12, 14], TP: [1.5, 3.0]}
    assert seen["first_status"] == "RUNNING"
    progress = seen["progress"]
    assert progress == sorted(progress) and progress[-1] == 100, progress
    assert seen["rows"] == 6 and seen["heatmap"] == 1
    assert seen["trades_sorted"] == sorted(seen["trades_sorted"], reverse=True)
    assert seen["best_run_page"] == batch.summary["best"]["run_id"]

    assert seen["window_title"] == "Window 2 of 2" and seen["window_rows"] == 2
    oos = BacktestRun.objects.get(batch=walk_forward, batch_params__window=1, batch_params__phase="out_of_sample")
    assert seen["oos_link"] == f"/runs/{oos.id}/"

    schedule = Schedule.objects.get(owner=alice)
    assert schedule.name == "Weekday browser sweep" and not schedule.enabled
    assert schedule.definition["grid"] == batch.definition["grid"] and not schedule.periodic_task.enabled
    assert seen["schedule_state"].strip() == "paused"
    assert seen["batch_rows"] == 2, "the sweep and the walk-forward are one row each"

    assert seen["hosts"] <= {"localhost", "127.0.0.1"}, seen["hosts"]
    assert seen["csp"] == [], "the pages work under the Content-Security-Policy"
    assert all(overflow <= 0 for overflow in seen["overflow"].values()), seen["overflow"]
