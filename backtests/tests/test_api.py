"""The REST API: submit, read, list, cancel, modules, and the one error contract."""

import pytest
from django.test import override_settings

from backtests import services
from backtests.models import BacktestRun, RunStatus

from .factories import v4_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/backtests"


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], dict)
    return body


def test_submit_answers_202_queued_and_enqueues_on_commit(alice_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_api.post(URL, v4_body(), format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "QUEUED"
    assert body["status_url"].endswith(f"/api/v1/backtests/{body['id']}")
    run = BacktestRun.objects.get(id=body["id"])
    assert run.market == "XAUUSD" and run.timeframe == "1h" and run.status == RunStatus.QUEUED
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    "body, code, field",
    [
        ({}, "INVALID_REQUEST", "marketContext"),
        (v4_body(marketContext__timeframe="7m"), "INVALID_REQUEST", "timeframe"),
        (v4_body(marketContext__direction="Sideways"), "INVALID_REQUEST", "direction"),
        (v4_body(decisionBlocks="rsi"), "INVALID_REQUEST", "decisionBlocks"),
        (v4_body(decisionBlocks=[]), "INVALID_REQUEST", "decisionBlocks"),
        (v4_body(exit__stopLoss="one"), "INVALID_REQUEST", "stopLoss"),
        (v4_body(exit__stopLoss=-1), "INVALID_REQUEST", "stopLoss"),
        (
            v4_body(marketContext__testPeriod="3 weeks", marketContext__startDate=None, marketContext__endDate=None),
            "INVALID_REQUEST",
            "testPeriod",
        ),
    ],
)
def test_bad_shapes_are_400_and_create_nothing(alice_api, body, code, field, django_capture_on_commit_callbacks):
    for key in ("startDate", "endDate"):
        if isinstance(body.get("marketContext"), dict) and body["marketContext"].get(key) is None:
            body["marketContext"].pop(key, None)
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_api.post(URL, body, format="json")
    err = assert_error(response, 400, code)
    assert field in str(err["details"]) or field in err["error"]
    assert BacktestRun.objects.count() == 0
    assert callbacks == []


def test_unknown_module_suggests_close_matches(alice_api):
    body = v4_body()
    body["decisionBlocks"][0]["subConfirmations"][0]["moduleId"] = "rsii"
    err = assert_error(alice_api.post(URL, body, format="json"), 400, "MODULE_NOT_FOUND")
    assert "rsi" in err["details"]["close_matches"]
    assert "indicator" in err["details"]["available_modules"]
    assert BacktestRun.objects.count() == 0


def test_out_of_range_config_is_invalid_config_naming_the_field(alice_api):
    body = v4_body()
    body["decisionBlocks"][0]["subConfirmations"][0]["config"]["period"] = 1
    err = assert_error(alice_api.post(URL, body, format="json"), 400, "INVALID_CONFIG")
    assert err["details"]["param"] == "period"
    assert err["details"]["field"] == "decisionBlocks[0].subConfirmations[0].config.period"


def test_unknown_param_is_rejected_not_ignored(alice_api):
    body = v4_body()
    body["decisionBlocks"][0]["subConfirmations"][0]["config"]["lenght"] = 14
    err = assert_error(alice_api.post(URL, body, format="json"), 400, "INVALID_CONFIG")
    assert err["details"]["param"] == "lenght"


def test_condition_on_a_categorical_value_outside_the_set(alice_api):
    body = v4_body()
    body["decisionBlocks"][0]["subConfirmations"][0]["config"] = {
        "output": "zone",
        "operator": "==",
        "value": "sideways",
    }
    err = assert_error(alice_api.post(URL, body, format="json"), 400, "INVALID_CONDITION")
    assert "overbought" in err["details"]["allowed"]


def test_non_json_body_is_invalid_json(alice_api):
    response = alice_api.post(URL, "{not json", content_type="application/json")
    assert_error(response, 400, "INVALID_JSON")


def test_yahoo_range_beyond_its_interval_limits_is_refused_up_front(alice_api):
    # 1h bars from 2024-01-01: further back than Yahoo's ~730 days (marketdata/tests cover the rest).
    err = assert_error(
        alice_api.post(URL, v4_body(marketContext__dataSource="yahoo"), format="json"), 400, "DATA_RANGE_UNAVAILABLE"
    )
    assert "CSV" in err["error"]


def test_anonymous_gets_401_and_other_user_gets_404(alice_api, bob_api, anon_api):
    run_id = alice_api.post(URL, v4_body(), format="json").json()["id"]
    assert_error(anon_api.get(f"{URL}/{run_id}"), 401, "NOT_AUTHENTICATED")
    assert_error(anon_api.post(URL, v4_body(), format="json"), 401, "NOT_AUTHENTICATED")
    for path in ("", "/trades", "/report.pdf"):
        assert_error(bob_api.get(f"{URL}/{run_id}{path}"), 404, "NOT_FOUND")
    assert_error(bob_api.post(f"{URL}/{run_id}/cancel"), 404, "NOT_FOUND")
    assert bob_api.get(URL).json()["count"] == 0


def test_method_not_allowed_and_unknown_url_use_the_contract(alice_api):
    assert_error(alice_api.delete(URL), 405, "METHOD_NOT_ALLOWED")
    assert_error(alice_api.get("/api/v1/nothing-here"), 404, "NOT_FOUND")


def test_list_is_newest_first_and_paginated(alice_api):
    ids = [alice_api.post(URL, v4_body(), format="json").json()["id"] for _ in range(3)]
    listing = alice_api.get(URL).json()
    assert listing["count"] == 3
    assert [r["id"] for r in listing["results"]] == ids[::-1]
    assert "next" in listing and "previous" in listing


def test_cancel_queued_then_cancel_again_is_409(alice_api):
    run_id = alice_api.post(URL, v4_body(), format="json").json()["id"]
    response = alice_api.post(f"{URL}/{run_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    assert_error(alice_api.post(f"{URL}/{run_id}/cancel"), 409, "INVALID_STATE")
    # A cancelled run is never claimed by a worker.
    assert services.backtest_execute(run_id=run_id) == "CANCELLED"
    assert BacktestRun.objects.get(id=run_id).started_at is None


@override_settings(QM_RENDER_PDF=False)
def test_executed_run_exposes_metrics_and_paginated_trades(alice_api):
    run_id = alice_api.post(URL, v4_body(), format="json").json()["id"]
    assert services.backtest_execute(run_id=run_id) == "SUCCEEDED"
    run = alice_api.get(f"{URL}/{run_id}").json()
    assert run["status"] == "SUCCEEDED" and run["progress"] == 100 and run["stage"] == "done"
    for key in ("win_rate", "profit_factor", "net_return_pct", "max_drawdown_pct", "trade_count"):
        assert key in run["metrics"]
    assert run["trade_count"] == run["metrics"]["trade_count"] > 0
    assert run["started_at"] and run["finished_at"] and run["engine_version"]
    trades = alice_api.get(run["links"]["trades"]).json()
    assert trades["count"] == run["trade_count"]
    first = trades["results"][0]
    for key in (
        "direction",
        "entry_time",
        "entry_price",
        "exit_time",
        "exit_price",
        "size",
        "pnl",
        "pnl_pct",
        "exit_reason",
        "bars_held",
    ):
        assert key in first
    assert first["entry_time"].endswith("Z") or first["entry_time"].endswith("+00:00")
    assert_error(alice_api.get(f"{URL}/{run_id}/report.pdf"), 404, "REPORT_NOT_AVAILABLE")


def test_modules_catalogue_and_schema(anon_api):
    listing = anon_api.get("/api/v1/modules").json()
    categories = {c["category"]: c for c in listing["categories"]}
    assert categories["indicator"]["count"] == len(categories["indicator"]["modules"]) >= 3
    only = anon_api.get("/api/v1/modules?category=volatility").json()
    assert [c["category"] for c in only["categories"]] == ["volatility"]
    schema = anon_api.get("/api/v1/modules/rsi/schema").json()
    assert schema["module_id"] == "rsi" and schema["category"] == "indicator"
    period = next(f for f in schema["schema"]["fields"] if f["name"] == "period")
    assert {"type", "default", "min", "max", "step", "title"} <= set(period)
    detail = anon_api.get("/api/v1/modules/rsi").json()
    assert detail["outputs"][0]["primary"] is True
    err = assert_error(anon_api.get("/api/v1/modules/rsii"), 404, "MODULE_NOT_FOUND")
    assert "rsi" in err["details"]["close_matches"]


def test_openapi_schema_and_docs_are_served(anon_api):
    schema = anon_api.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/backtests" in schema.content
    assert anon_api.get("/api/v1/docs/").status_code == 200


def test_rate_limit_is_429_with_retry_after(alice_api, settings):
    from django.core.cache import cache
    from rest_framework.settings import api_settings
    from rest_framework.throttling import UserRateThrottle

    cache.clear()
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "2/min"}
    original = UserRateThrottle.THROTTLE_RATES
    UserRateThrottle.THROTTLE_RATES = rates
    try:
        for _ in range(2):
            assert alice_api.get(URL).status_code == 200
        err = assert_error(alice_api.get(URL), 429, "RATE_LIMITED")
    finally:
        UserRateThrottle.THROTTLE_RATES = original
        cache.clear()
    assert err["details"]["retry_after_seconds"] > 0
    assert api_settings.DEFAULT_THROTTLE_RATES["user"] != "2/min"


def test_unexpected_error_is_500_without_a_stack_trace(alice_api, monkeypatch):
    from backtests import selectors

    def broken(**kwargs):
        raise RuntimeError("database exploded at /secret/path.py line 12")

    monkeypatch.setattr(selectors, "backtest_list_for_user", broken)
    err = assert_error(alice_api.get(URL), 500, "INTERNAL_ERROR")
    assert "secret" not in str(err) and "Traceback" not in str(err)
