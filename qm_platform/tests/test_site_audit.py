"""Every page in real Chromium: it loads, says nothing in red on the console, asks no other host
for anything, fits a 1,366 px window without scrolling sideways, and axe-core finds no serious or
critical accessibility violation.

The pages run under their real Content-Security-Policy (axe-core is injected as an init
script). Screenshots land in var/screenshots/audit/. Add a page to PAGES when you add one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import override_settings

from backtests.tests.factories import v4_body

from .browser import PageAudit

# (name, path, who is logged in, selector to wait for, run axe-core). Third-party pages (the
# API docs) are checked for requests and errors; axe-core judges the pages we write.
PAGES = [
    ("login", "/accounts/login/", "anon", "#id_username", True),
    ("not-found", "/no-such-page/", "anon", "h1", True),
    ("runs", "/runs/", "alice", "table", True),
    ("builder-v4", "/run-backtest-v4", "alice", "body[data-builder=ready]", True),
    ("builder-ict", "/run-backtest-v5", "alice", "#ict-form", True),
    ("run-succeeded", "/runs/{succeeded}/", "alice", "[data-kpi=net_return_pct]", True),
    ("run-failed", "/runs/{failed}/", "alice", "#error", True),
    ("run-queued", "/runs/{queued}/", "alice", "#waiting", True),
    ("compare", "/runs/compare/?ids={succeeded},{other}", "alice", "#compare-chart svg", True),
    ("optimise", "/batches/new/?run={succeeded}", "alice", "#sweep-form", True),
    ("batch-choose-run", "/batches/new/", "alice", "h1", True),
    ("batches", "/batches/", "alice", "h1", True),
    ("batch", "/batches/{batch}/", "alice", "#results-table", True),
    ("batch-running", "/batches/{running}/", "alice", "#progress", True),
    ("walk-forward", "/batches/{walk_forward}/", "alice", "#windows-table", True),
    ("walk-forward-window", "/batches/{walk_forward}/?window=1", "alice", "#window-title", True),
    ("runs-of-batch", "/runs/?batch={batch}", "alice", "table", True),
    ("schedules", "/schedules/", "alice", "#schedules-table", True),
    ("schedule-new", "/schedules/new/", "alice", "#schedule-form", True),
    ("schedule-from-batch", "/schedules/new/?batch={batch}", "alice", "#schedule-form", True),
    ("schedule", "/schedules/{schedule}/", "alice", "#schedule-form", True),
    ("api-keys", "/accounts/api-keys/", "alice", "h1", True),
    ("strategies", "/strategies/", "alice", "#strategies-table", True),
    ("strategy", "/strategies/{strategy}/", "alice", "#versions", True),
    ("strategy-version", "/strategies/{strategy}/versions/2/", "alice", "#version-body", True),
    ("builder-saved", "/run-backtest-v4?strategy={strategy}", "alice", "body[data-builder=ready]", True),
    ("admin", "/admin/", "root", "#content", True),
    ("admin-runs", "/admin/backtests/backtestrun/", "root", "#result_list", True),
    ("admin-run", "/admin/backtests/backtestrun/{succeeded}/change/", "root", "#content", True),
    ("admin-batches", "/admin/batches/batch/", "root", "#result_list", True),
    ("admin-batch", "/admin/batches/batch/{batch}/change/", "root", "#content", True),
    ("admin-datasets", "/admin/marketdata/dataset/", "root", "#content", True),
    ("admin-dataset", "/admin/marketdata/dataset/{dataset}/change/", "root", "#content", True),
    ("admin-instruments", "/admin/marketdata/instrument/", "root", "#result_list", True),
    ("admin-instrument", "/admin/marketdata/instrument/{instrument}/change/", "root", "#content", True),
    ("admin-schedules", "/admin/batches/schedule/", "root", "#result_list", True),
    ("admin-schedule", "/admin/batches/schedule/{schedule}/change/", "root", "#content", True),
    ("admin-templates", "/admin/backtests/strategytemplate/", "root", "#result_list", True),
    ("admin-template", "/admin/backtests/strategytemplate/rsi_mean_reversion/change/", "root", "#content", True),
    ("admin-users", "/admin/auth/user/", "root", "#result_list", True),
    ("admin-audit", "/admin/accounts/auditentry/", "root", "#content", True),
    ("admin-strategies", "/admin/backtests/strategy/", "root", "#result_list", True),
    ("admin-strategy", "/admin/backtests/strategy/{strategy}/change/", "root", "#content", True),
    ("swagger", "/api/v1/docs/", "anon", "#swagger-ui .opblock", False),
    ("redoc", "/api/v1/redoc/", "anon", "redoc .api-content", False),
]


def seed(alice, monkeypatch) -> dict:
    """A succeeded, a failed and a queued run, a finished sweep, a running one, a finished
    walk-forward, a schedule and a saved strategy of two versions (the succeeded run came from
    the second) for alice."""
    from backtests import services as run_services
    from backtests.library import services as library
    from backtests.models import BacktestRun, RunStatus
    from backtests.strategies.templates import templates_load
    from batches.models import BatchStatus
    from batches.services import lifecycle
    from batches.services.schedules import schedule_create
    from batches.tests.test_pages_browser import finished_walk_forward
    from marketdata.instrument_table import seed_rows
    from marketdata.models import Instrument
    from marketdata.services import dataset_record
    from reports.tests.factories import stored_run

    for row in seed_rows():  # the migrations' rows, gone if a transactional test ran before this one
        Instrument.objects.get_or_create(symbol=row["symbol"], defaults=row)
    templates_load()
    succeeded = stored_run(alice, trades=30, market="EURUSD")
    other = stored_run(alice, trades=12, strategy_name="Second")
    failed = stored_run(alice, status="FAILED", error_code="INSUFFICIENT_DATA", error_message="no bars in the window")
    queued = run_services.backtest_submit(user=alice, body=v4_body(strategyName="Waiting"))
    short = v4_body(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-03-01T00:00:00Z")
    period = "decisionBlocks[0].subConfirmations[0].config.period"
    sweep = {"strategy": short, "grid": {period: [7, 14]}}
    batch = lifecycle.batch_create(user=alice, definition={"name": "Audit sweep", **sweep})
    for run_id in BacktestRun.objects.filter(batch=batch, status=RunStatus.QUEUED).values_list("id", flat=True):
        run_services.backtest_execute(run_id=run_id)
    assert lifecycle.batch_advance(batch_id=batch.id) == BatchStatus.SUCCEEDED
    running = lifecycle.batch_create(
        user=alice, definition={"name": "Audit sweep, running", "strategy": short, "grid": {period: [9, 21]}}
    )
    run_services.backtest_execute(run_id=BacktestRun.objects.filter(batch=running).earliest("created_at").id)
    walk_forward = finished_walk_forward(alice, monkeypatch)
    assert walk_forward.status == BatchStatus.SUCCEEDED
    schedule = schedule_create(user=alice, name="Weekday sweep", definition=sweep, cron="0 6 * * 1-5", enabled=False)
    strategy = library.strategy_create(user=alice, name="Audit RSI", body=short, tags=["audit"])
    library.strategy_update(strategy=strategy, body={**short, "exit": {"stopLoss": 1.0, "takeProfit": 3.0}})
    BacktestRun.objects.filter(id=succeeded.id).update(strategy=strategy, strategy_version=2)
    ids = {"succeeded": succeeded.id, "other": other.id, "failed": failed.id, "queued": queued.id}
    return {
        **{k: str(v) for k, v in ids.items()},
        "batch": str(batch.id),
        "running": str(running.id),
        "walk_forward": str(walk_forward.id),
        "schedule": schedule.id,
        "strategy": strategy.id,
        "dataset": dataset_record(symbol="XAUUSD", timeframe="1h", source="synthetic").id,  # the sweeps' data
        "instrument": Instrument.objects.get(symbol="EURUSD").id,
    }


def audit(base_url: str, ids: dict) -> list:
    from playwright.sync_api import sync_playwright

    visits = []
    with sync_playwright() as playwright:
        by_user = {}
        try:
            for who, password in (("anon", None), ("alice", "alice-password"), ("root", "root-password")):
                by_user[who] = PageAudit(playwright, base_url)
                if password:
                    by_user[who].log_in(who, password)
            for name, path, who, ready, axe in PAGES:
                visit = by_user[who].visit(path.format(**ids), ready=ready, axe=axe, screenshot=name)
                visit.path = f"{name} {visit.path}"
                visits.append(visit)
        finally:
            for auditor in by_user.values():
                auditor.close()
    return visits


@pytest.mark.e2e
def test_every_page_loads_cleanly_accessibly_and_only_from_this_origin(
    live_server, transactional_db, alice, django_user_model, monkeypatch
):
    from batches.services import lifecycle

    django_user_model.objects.create_superuser("root", password="root-password")
    monkeypatch.setattr(lifecycle, "batch_dispatch", lambda **kw: True)  # the test runs the batch's runs
    with override_settings(QM_RENDER_PDF=False, QM_BATCH_RENDER_PDF=False):
        ids = seed(alice, monkeypatch)
    with ThreadPoolExecutor(max_workers=1) as pool:  # Playwright's sync API keeps its own event loop
        visits = pool.submit(audit, live_server.url, ids).result(timeout=600)

    assert [v.path for v in visits if v.status != (404 if v.path.startswith("not-found") else 200)] == []
    problems = {
        v.path: {
            "foreign": v.foreign_requests(live_server.url),
            "errors": v.errors,
            "axe": v.violations,
            "sideways": v.sideways(),
        }
        for v in visits
    }
    expected_errors = {"not-found": "404"}  # the browser logs the 404 status of the page itself
    for path, found in problems.items():
        name = path.split()[0]
        if name in expected_errors:
            found["errors"] = [e for e in found["errors"] if expected_errors[name] not in e]
    problems = {path: found for path, found in problems.items() if any(found.values())}
    assert problems == {}, "\n" + "\n".join(
        f"{path}: {kind}: {item}" for path, found in problems.items() for kind, items in found.items() for item in items
    )
    assert len(visits) == len(PAGES) and all(v.requests for v in visits)
