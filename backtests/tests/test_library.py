"""The strategy library over the API: CRUD, versions, diff, running a saved strategy (with
overrides), its history, deletion, export/import, templates, and isolation (bob, anonymous)."""

from __future__ import annotations

import json

import pytest

from backtests.models import BacktestRun, Strategy, StrategyVersion
from backtests.tests.factories import v4_body

pytestmark = pytest.mark.django_db
URL = "/api/v1/strategies"


def save(client, name="RSI dip", body=None, **extra):
    response = client.post(URL, {"name": name, "body": body or v4_body(), **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_saves_version_one_and_lists_with_filters(alice_api):
    created = save(alice_api, tags=["mean-reversion", "gold"], description="RSI below 35")
    assert created["latest_version"] == 1 and created["kind"] == "v4" and created["market"] == "XAUUSD"
    assert created["compiles"]["ok"] is True
    save(alice_api, name="Cable breakout", body=v4_body(marketContext__market="GBPUSD"), tags=["fx"])

    listed = alice_api.get(URL).json()
    assert listed["count"] == 2 and {"next", "previous", "results"} <= set(listed)
    assert [s["name"] for s in alice_api.get(URL, {"name": "rsi"}).json()["results"]] == ["RSI dip"]
    assert [s["name"] for s in alice_api.get(URL, {"tag": "fx"}).json()["results"]] == ["Cable breakout"]
    assert [s["name"] for s in alice_api.get(URL, {"market": "gbpusd"}).json()["results"]] == ["Cable breakout"]
    assert alice_api.get(URL, {"tag": "nothing"}).json()["count"] == 0


def test_a_body_that_does_not_compile_is_refused_with_the_submissions_400(alice_api):
    bad = v4_body(decisionBlocks__0__subConfirmations__0__config={"period": -3, "operator": "<", "value": 30})
    as_submission = alice_api.post("/api/v1/backtests", bad, format="json")
    as_strategy = alice_api.post(URL, {"name": "broken", "body": bad}, format="json")
    assert as_submission.status_code == as_strategy.status_code == 400
    assert as_strategy.json()["code"] == as_submission.json()["code"]
    assert as_strategy.json()["success"] is False
    assert not Strategy.objects.exists()


def test_duplicate_name_is_409(alice_api, bob_api):
    save(alice_api)
    response = alice_api.post(URL, {"name": "RSI dip", "body": v4_body()}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "DUPLICATE_NAME"
    save(bob_api)  # names are per owner


def test_changing_the_body_makes_an_immutable_version_and_a_diff(alice_api):
    strategy = save(alice_api)
    url = f"{URL}/{strategy['id']}"
    changed = alice_api.patch(url, {"body": v4_body(exit__takeProfit=3.0)}, format="json").json()
    assert changed["latest_version"] == 2 and changed["body"]["exit"]["takeProfit"] == 3.0
    # the same body again, or a rename, adds no version
    assert alice_api.patch(url, {"body": v4_body(exit__takeProfit=3.0)}, format="json").json()["latest_version"] == 2
    assert alice_api.patch(url, {"name": "RSI dip v2"}, format="json").json()["latest_version"] == 2

    versions = alice_api.get(f"{url}/versions").json()["results"]
    assert [v["number"] for v in versions] == [1, 2]
    assert "exit.takeProfit 2.0 → 3.0" in versions[1]["summary"]
    assert alice_api.get(f"{url}/versions/1").json()["body"]["exit"]["takeProfit"] == 2.0
    assert alice_api.get(f"{url}/versions/3").status_code == 404

    diff = alice_api.get(f"{url}/diff", {"from": 1, "to": 2}).json()
    assert diff["patch"] == [{"op": "replace", "path": "/exit/takeProfit", "value": 3.0}]
    assert alice_api.get(f"{url}/diff").json()["patch"] == diff["patch"]  # default: latest against the one before
    assert alice_api.get(f"{url}/diff", {"from": 9}).status_code == 404
    assert alice_api.get(f"{url}/diff", {"from": "x"}).json()["code"] == "INVALID_REQUEST"

    bad = alice_api.patch(url, {"body": v4_body(exit__stopLoss=-1)}, format="json")
    assert bad.status_code == 400 and StrategyVersion.objects.filter(strategy_id=strategy["id"]).count() == 2


def test_run_a_saved_strategy_latest_or_a_version_with_overrides(alice_api, alice):
    strategy = save(alice_api)
    alice_api.patch(f"{URL}/{strategy['id']}", {"body": v4_body(exit__takeProfit=3.0)}, format="json")

    latest = alice_api.post("/api/v1/backtests", {"strategy": strategy["id"]}, format="json")
    assert latest.status_code == 202, latest.json()
    run = BacktestRun.objects.get(id=latest.json()["id"])
    assert (run.strategy_id, run.strategy_version) == (strategy["id"], 2)
    assert run.request["exit"]["takeProfit"] == 3.0 and run.request["strategyName"] == "RSI dip"

    first = alice_api.post(
        "/api/v1/backtests",
        {"strategy": strategy["id"], "version": 1, "marketContext": {"market": "GBPUSD"}},
        format="json",
    )
    run = BacktestRun.objects.get(id=first.json()["id"])
    assert run.strategy_version == 1 and run.market == "GBPUSD"
    assert run.request["exit"]["takeProfit"] == 2.0 and run.request["marketContext"]["timeframe"] == "1h"

    missing = alice_api.post("/api/v1/backtests", {"strategy": strategy["id"], "version": 7}, format="json")
    assert missing.status_code == 404 and missing.json()["details"]["latest_version"] == 2
    bad = alice_api.post("/api/v1/backtests", {"strategy": "twelve"}, format="json")
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "strategy"

    history = alice_api.get(f"{URL}/{strategy['id']}/runs").json()
    assert history["runs_total"] == 2 and [r["version"] for r in history["runs"]] == [1, 2]
    assert history["batches"] == [] and history["by_version"] == []  # nothing has succeeded yet


def test_history_shows_key_metrics_and_sharpe_by_version(alice_api, alice):
    strategy = save(alice_api)
    run_id = alice_api.post("/api/v1/backtests", {"strategy": strategy["id"]}, format="json").json()["id"]
    BacktestRun.objects.filter(id=run_id).update(
        status="SUCCEEDED", metrics={"sharpe": 1.5, "net_return_pct": 4.0, "trade_count": 12, "omega": 2}
    )
    history = alice_api.get(f"{URL}/{strategy['id']}/runs").json()
    assert history["runs"][0]["metrics"]["sharpe"] == 1.5 and "omega" not in history["runs"][0]["metrics"]
    assert history["by_version"] == [{"version": 1, "runs": 1, "mean_sharpe": 1.5, "mean_net_return_pct": 4.0}]


def test_deleting_keeps_the_runs_unless_asked(alice_api):
    kept = save(alice_api, name="kept")
    run_id = alice_api.post("/api/v1/backtests", {"strategy": kept["id"]}, format="json").json()["id"]
    assert alice_api.delete(f"{URL}/{kept['id']}").status_code == 204
    run = BacktestRun.objects.get(id=run_id)
    assert run.strategy_id is None and run.strategy_version == 1  # shown as a deleted strategy's v1
    assert alice_api.get(f"/api/v1/backtests/{run_id}").status_code == 200

    gone = save(alice_api, name="gone")
    run_id = alice_api.post("/api/v1/backtests", {"strategy": gone["id"]}, format="json").json()["id"]
    assert alice_api.delete(f"{URL}/{gone['id']}?delete_runs=true").status_code == 204
    assert not BacktestRun.objects.filter(id=run_id).exists()
    assert alice_api.post("/api/v1/backtests", {"strategy": gone["id"]}, format="json").status_code == 404


def test_another_users_strategy_is_404_everywhere(alice_api, bob_api, anon_api):
    strategy = save(alice_api)
    url = f"{URL}/{strategy['id']}"
    for path in ("", "/versions", "/versions/1", "/diff", "/runs", "/export"):
        response = bob_api.get(url + path)
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND", path
        assert anon_api.get(url + path).status_code == 401
    assert bob_api.patch(url, {"name": "mine"}, format="json").status_code == 404
    assert bob_api.delete(url).status_code == 404
    assert bob_api.post("/api/v1/backtests", {"strategy": strategy["id"]}, format="json").status_code == 404
    assert bob_api.get(URL).json()["count"] == 0
    assert anon_api.post(URL, {"name": "x", "body": v4_body()}, format="json").status_code == 401
    assert Strategy.objects.get(id=strategy["id"]).name == "RSI dip"
    assert not BacktestRun.objects.exists()


def test_export_and_import_round_trip_with_all_versions(alice_api, bob_api):
    strategy = save(alice_api, tags=["gold"])
    alice_api.patch(f"{URL}/{strategy['id']}", {"body": v4_body(exit__takeProfit=3.0)}, format="json")
    exported = alice_api.get(f"{URL}/{strategy['id']}/export")
    assert exported.status_code == 200 and "attachment" in exported["Content-Disposition"]
    document = json.loads(exported.content)
    assert document["format"] == "quantmetrics.strategy" and len(document["versions"]) == 2

    imported = bob_api.post(f"{URL}/import", document, format="json")
    assert imported.status_code == 201, imported.json()
    copy = imported.json()
    assert copy["name"] == "RSI dip" and copy["latest_version"] == 2 and copy["tags"] == ["gold"]
    assert copy["body"]["exit"]["takeProfit"] == 3.0
    # as a file upload, under another name
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("s.json", exported.content, content_type="application/json")
    again = alice_api.post(f"{URL}/import?name=RSI%20copy", {"file": upload}, format="multipart")
    assert again.status_code == 201 and again.json()["name"] == "RSI copy"


def test_import_reports_every_problem_by_path(alice_api):
    save(alice_api)
    document = {
        "format": "quantmetrics.strategy",
        "name": "RSI dip",  # taken
        "tags": "gold",
        "versions": [
            {"body": v4_body()},
            {"body": v4_body(exit__stopLoss=-1)},
            {"body": v4_body(decisionBlocks__0__subConfirmations__0__moduleId="rsx")},
            "not a version",
        ],
    }
    response = alice_api.post(f"{URL}/import", document, format="json")
    assert response.status_code == 400 and response.json()["code"] == "INVALID_IMPORT"
    paths = [p["path"] for p in response.json()["details"]["problems"]]
    assert "name" in paths and "tags" in paths and "versions[3]" in paths
    assert any(p.startswith("versions[1].body") for p in paths)
    assert any(p.startswith("versions[2].body") for p in paths)
    assert not any(p.startswith("versions[0]") for p in paths)
    assert Strategy.objects.count() == 1
    assert alice_api.post(f"{URL}/import", [1, 2], format="json").json()["code"] == "INVALID_IMPORT"


def test_a_template_copied_into_the_library(alice_api):
    response = alice_api.post(f"{URL}/from-template", {"template": "rsi_mean_reversion"}, format="json")
    assert response.status_code == 201, response.json()
    strategy = response.json()
    assert strategy["latest_version"] == 1 and "template" in strategy["tags"] and "template" not in strategy["body"]
    unknown = alice_api.post(f"{URL}/from-template", {"template": "nope"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["code"] == "TEMPLATE_NOT_FOUND"
    again = alice_api.post(f"{URL}/from-template", {"template": "rsi_mean_reversion"}, format="json")
    assert again.status_code == 409


def test_a_saved_body_that_no_longer_compiles_says_why(alice_api):
    strategy = save(alice_api)
    broken = v4_body(decisionBlocks__0__subConfirmations__0__moduleId="removed_module")
    Strategy.objects.filter(id=strategy["id"]).update(definition=broken)  # e.g. a module removed in a release
    StrategyVersion.objects.filter(strategy_id=strategy["id"]).update(body=broken)
    detail = alice_api.get(f"{URL}/{strategy['id']}").json()
    assert detail["compiles"]["ok"] is False and detail["compiles"]["code"] == "MODULE_NOT_FOUND"
    run = alice_api.post("/api/v1/backtests", {"strategy": strategy["id"]}, format="json")
    assert run.status_code == 400 and run.json()["code"] == "MODULE_NOT_FOUND"


def test_a_portfolio_is_a_kind_of_its_own_found_by_any_of_its_markets(alice_api):
    from backtests.tests.test_api_portfolio import portfolio_body

    created = save(alice_api, name="Basket", body=portfolio_body(markets=["EURUSD", "GBPUSD"]))
    assert created["kind"] == "portfolio" and created["market"] == "EURUSD"
    save(alice_api, name="Gold only")
    assert [s["name"] for s in alice_api.get(URL, {"market": "gbpusd"}).json()["results"]] == ["Basket"]
    run = alice_api.post("/api/v1/backtests", {"strategy": created["id"]}, format="json")
    assert run.status_code == 202, run.json()
    assert BacktestRun.objects.get(id=run.json()["id"]).request["marketContext"]["markets"] == ["EURUSD", "GBPUSD"]
