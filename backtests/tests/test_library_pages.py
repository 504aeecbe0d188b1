"""The strategy library's pages without a browser: the list (filters, copy a template, import),
a strategy's page (versions, runs, batches, schedules, run a version, delete), the builder's
load and run, the schedule form filled from a strategy, and the admin list."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backtests.library import services as library
from backtests.models import BacktestRun, Strategy, StrategyVersion

from .factories import v4_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def saved(alice):
    strategy = library.strategy_create(user=alice, name="RSI dip", body=v4_body(), tags=["gold"])
    library.strategy_update(strategy=strategy, body=v4_body(exit__takeProfit=3.0))
    return strategy


def test_the_list_is_in_the_navigation_and_filters(alice_client, alice, saved):
    library.strategy_create(user=alice, name="Cable", body=v4_body(marketContext__market="GBPUSD"))
    html = alice_client.get("/strategies/").content.decode()
    assert 'href="/strategies/"' in html and "RSI dip" in html and "Cable" in html and "v2" in html
    filtered = alice_client.get("/strategies/", {"market": "GBPUSD"}).content.decode()
    assert "Cable" in filtered and "RSI dip" not in filtered
    assert "RSI dip" in alice_client.get("/strategies/", {"tag": "gold"}).content.decode()


def test_the_strategy_page_shows_versions_and_runs_and_runs_a_version(alice_client, saved):
    response = alice_client.post(f"/strategies/{saved.id}/run", {"version": "1"})
    assert response.status_code == 303
    run = BacktestRun.objects.get()
    assert response["Location"] == f"/runs/{run.id}/" and (run.strategy_id, run.strategy_version) == (saved.id, 1)
    alice_client.post(f"/strategies/{saved.id}/run")  # the latest
    assert sorted(BacktestRun.objects.values_list("strategy_version", flat=True)) == [1, 2]

    html = alice_client.get(f"/strategies/{saved.id}/").content.decode()
    assert 'id="versions"' in html and "exit.takeProfit 2.0 → 3.0" in html
    assert html.count('data-role="run-version"') == 2 and html.count("<tr data-run=") == 2
    assert "The latest version compiles." in html
    assert f"/run-backtest-v4?strategy={saved.id}" in html and f"/schedules/new/?strategy={saved.id}" in html
    run_page = alice_client.get(f"/runs/{run.id}/").content.decode()
    assert f'href="/strategies/{saved.id}/"' in run_page and "version 1" in run_page

    version_page = alice_client.get(f"/strategies/{saved.id}/versions/2/").content.decode()
    assert "/exit/takeProfit" in version_page


def test_a_strategy_that_no_longer_compiles_shows_why(alice_client, saved):
    broken = v4_body(decisionBlocks__0__subConfirmations__0__moduleId="removed_module")
    Strategy.objects.filter(id=saved.id).update(definition=broken)
    StrategyVersion.objects.filter(strategy=saved, number=2).update(body=broken)
    html = alice_client.get(f"/strategies/{saved.id}/").content.decode()
    assert "no longer compiles" in html and "MODULE_NOT_FOUND" in html
    response = alice_client.post(f"/strategies/{saved.id}/run")
    assert response.status_code == 400 and "MODULE_NOT_FOUND" in response.content.decode()


def test_another_users_strategy_pages_are_404(client, bob, saved):
    client.force_login(bob)
    for path in (
        f"/strategies/{saved.id}/",
        f"/strategies/{saved.id}/versions/1/",
        f"/schedules/new/?strategy={saved.id}",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/strategies/{saved.id}/run").status_code == 404
    assert client.post(f"/strategies/{saved.id}/delete").status_code == 404
    assert f"?strategy={saved.id}" not in client.get(f"/run-backtest-v4?strategy={saved.id}").content.decode()
    assert Strategy.objects.filter(id=saved.id).exists() and not BacktestRun.objects.exists()


def test_deleting_from_the_page_keeps_the_runs_shown_as_a_deleted_strategy(alice_client, saved):
    alice_client.post(f"/strategies/{saved.id}/run")
    run = BacktestRun.objects.get()
    assert alice_client.post(f"/strategies/{saved.id}/delete").status_code == 303
    assert "deleted strategy" in alice_client.get(f"/runs/{run.id}/").content.decode()
    assert "(deleted strategy) v2" in alice_client.get("/runs/").content.decode()


def test_copy_a_template_and_import_a_file_with_problems(alice_client, saved):
    response = alice_client.post("/strategies/from-template", {"template": "rsi_mean_reversion"})
    assert response.status_code == 303
    copied = Strategy.objects.exclude(id=saved.id).get()
    assert response["Location"] == f"/strategies/{copied.id}/" and copied.latest_version == 1

    document = {"name": "Imported", "versions": [{"body": v4_body(exit__stopLoss=-1)}]}
    upload = SimpleUploadedFile("s.json", json.dumps(document).encode(), content_type="application/json")
    response = alice_client.post("/strategies/import", {"file": upload})
    html = response.content.decode()
    assert response.status_code == 400 and "INVALID_IMPORT" in html and "versions[0].body" in html
    good = {"name": "Imported", "versions": [{"body": v4_body()}]}
    upload = SimpleUploadedFile("s.json", json.dumps(good).encode(), content_type="application/json")
    assert alice_client.post("/strategies/import", {"file": upload}).status_code == 303


def test_the_builder_loads_a_strategy_and_an_unchanged_run_is_recorded_as_its_version(alice_client, saved):
    html = alice_client.get(f"/run-backtest-v4?strategy={saved.id}").content.decode()
    assert 'id="save-as"' in html and 'id="save-version"' in html and "Editing" in html
    assert '"takeProfit": 3.0' in html and f'value="{saved.id}"' in html

    payload = json.dumps(saved.definition)
    alice_client.post("/run-backtest-v4", {"payload": payload, "strategy_ref": str(saved.id)})
    changed = json.dumps(v4_body(exit__takeProfit=5.0))
    alice_client.post("/run-backtest-v4", {"payload": changed, "strategy_ref": str(saved.id)})
    runs = {r.request["exit"]["takeProfit"]: r for r in BacktestRun.objects.all()}
    assert (runs[3.0].strategy_id, runs[3.0].strategy_version) == (saved.id, 2)
    assert runs[5.0].strategy_id is None  # an edited body is not the saved version


def test_the_schedule_form_is_filled_from_a_strategy(alice_client, saved):
    html = alice_client.get(f"/schedules/new/?strategy={saved.id}").content.decode()
    assert "RSI dip (latest version)" in html and "&quot;version&quot;: &quot;latest&quot;" in html


def test_admin_lists_owner_latest_version_runs_and_the_last_runs_metrics(admin_client, alice_client, saved):
    alice_client.post(f"/strategies/{saved.id}/run")
    BacktestRun.objects.update(status="SUCCEEDED", metrics={"sharpe": 1.25, "net_return_pct": 3.5, "trade_count": 9})
    html = admin_client.get("/admin/backtests/strategy/").content.decode()
    assert "RSI dip" in html and "alice" in html and "Sharpe 1.25" in html and "+3.50%" in html
    detail = admin_client.get(f"/admin/backtests/strategy/{saved.id}/change/").content.decode()
    assert "exit.takeProfit" in detail  # the versions inline, read-only
    assert detail.count('<details class="qm-json">') == 3, "the definition and both versions' bodies are folded"
    assert admin_client.get("/admin/backtests/strategy/add/").status_code == 403  # versions start in the library
