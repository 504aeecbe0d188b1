"""Templates, sessions and the request expansion that feeds one engine."""

import pandas as pd
import pytest
from django.test import override_settings

from backtests import services
from backtests.models import BacktestRun, RunStatus, StrategyTemplate, Trade
from backtests.strategies import expand_request
from backtests.strategies.sessions import session_block
from backtests.strategies.templates import template_files

from .factories import v4_body

pytestmark = pytest.mark.django_db
URL = "/api/v1/backtests"
WINDOW = {"startDate": "2024-01-01T00:00:00Z", "endDate": "2024-07-01T00:00:00Z", "dataSource": "synthetic"}


def test_at_least_twelve_templates_are_loaded_by_the_migration(anon_api, alice_api):
    shipped = {t["id"] for t in template_files()}
    assert len(shipped) >= 12
    assert set(StrategyTemplate.objects.values_list("id", flat=True)) == shipped
    listed = alice_api.get("/api/v1/templates").json()
    assert {t["id"] for t in listed} == shipped
    assert {t["kind"] for t in listed} == {"v4", "ict"}


@pytest.mark.parametrize("template_id", sorted(t["id"] for t in template_files()))
def test_every_template_runs_on_synthetic_data(template_id, alice_api):
    with override_settings(QM_RENDER_PDF=False):
        response = alice_api.post(URL, {"template": template_id, "marketContext": WINDOW}, format="json")
        assert response.status_code == 202, response.json()
        run_id = response.json()["id"]
        assert services.backtest_execute(run_id=run_id) == RunStatus.SUCCEEDED, BacktestRun.objects.get(
            id=run_id
        ).error_message
    run = BacktestRun.objects.get(id=run_id)
    assert run.metrics["trade_count"] == Trade.objects.filter(run=run).count()


def test_template_overrides_are_deep_merged_and_unknown_template_is_400(alice_api):
    response = alice_api.post(
        URL,
        {
            "template": "rsi_mean_reversion",
            "exit": {"takeProfit": 3.5},
            "marketContext": {**WINDOW, "market": "GBPUSD"},
        },
        format="json",
    )
    assert response.status_code == 202
    run = BacktestRun.objects.get(id=response.json()["id"])
    assert run.market == "GBPUSD" and run.request["exit"] == {"stopLoss": 1.0, "takeProfit": 3.5}
    assert run.request["decisionBlocks"][0]["subConfirmations"][0]["moduleId"] == "rsi"
    bad = alice_api.post(URL, {"template": "rsi_mean_reversal"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "TEMPLATE_NOT_FOUND"
    assert "rsi_mean_reversion" in bad.json()["details"]["available"]


def test_session_filter_only_enters_inside_the_session(alice):
    body = v4_body(marketContext__session="London")
    body["decisionBlocks"][0]["subConfirmations"][0]["config"]["value"] = 45
    expanded = expand_request(body)
    assert expanded["decisionBlocks"][-1]["generated"] == "session"
    assert expand_request(expanded) == expanded  # idempotent
    with override_settings(QM_RENDER_PDF=False):
        run = services.backtest_submit(user=alice, body=expanded)
        assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    entries = pd.DatetimeIndex(Trade.objects.filter(run=run).values_list("entry_time", flat=True))
    assert len(entries) > 5
    # The signal bar (one hour before the entry bar) opened inside 03:00-12:00 New York time.
    signal_hours = (entries - pd.Timedelta(hours=1)).tz_convert("America/New_York").hour
    assert ((signal_hours >= 3) & (signal_hours < 12)).all()


def test_unknown_session_is_rejected_with_the_choices(alice_api):
    response = alice_api.post(URL, v4_body(marketContext__session="Sydney lunch"), format="json")
    assert response.status_code == 400
    assert "London" in response.json()["details"]["sessions"]


def test_kill_zone_sessions_map_to_the_kill_zones_module():
    block = session_block("london_open")
    condition = block["subConfirmations"][0]
    assert condition["moduleId"] == "kill_zones" and condition["config"]["zone"] == "london_open"
    assert session_block("All") is None and session_block(None) is None


def test_v5_ict_request_compiles_to_decision_blocks_and_runs(alice_api):
    from backtests.api.views import EXAMPLE_V5

    body = {**EXAMPLE_V5, "marketContext": {**EXAMPLE_V5["marketContext"], **WINDOW}}
    response = alice_api.post(URL, body, format="json")
    assert response.status_code == 202, response.json()
    run = BacktestRun.objects.get(id=response.json()["id"])
    modules = [s["moduleId"] for b in run.request["decisionBlocks"] for s in b["subConfirmations"]]
    assert modules == [
        "htf_filter",
        "market_structure_shift",
        "premium_discount_zones",
        "fair_value_gaps",
        "kill_zones",
    ]
    assert run.request["exit"]["stopLoss"]["level"]["output"] == "bottom"
    with override_settings(QM_RENDER_PDF=False):
        assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    run.refresh_from_db()
    trades = Trade.objects.filter(run=run)
    assert run.metrics["trade_count"] == trades.count()
    for trade in trades:  # the stop sits below the entry, the target 2R above it
        assert trade.initial_stop < trade.entry_price < trade.initial_target


@pytest.mark.parametrize(
    "ict, field",
    [
        ({"entryModel": "turtle_soup"}, "entryModel"),
        ({"target": {"type": "r", "value": 0}}, "target"),
        ({"htfBias": {"timeframe": "2h"}}, "htfBias"),
    ],
)
def test_v5_bad_config_is_400_naming_the_field(alice_api, ict, field):
    response = alice_api.post(
        URL, {"kind": "ict", "marketContext": {"market": "EURUSD", "timeframe": "15m"}, "ict": ict}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "INVALID_REQUEST"
    assert field in str(response.json()["details"])
    assert BacktestRun.objects.count() == 0


def test_browser_v5_endpoint_enqueues_and_redirects(client, alice):
    import json

    from backtests.api.views import EXAMPLE_V5

    client.force_login(alice)
    assert client.get("/run-backtest-v5").status_code == 200
    body = {k: v for k, v in EXAMPLE_V5.items() if k != "kind"}  # kind is implied here
    response = client.post("/run-backtest-v5", {"payload": json.dumps(body)})
    assert response.status_code == 303
    run = BacktestRun.objects.get(owner=alice)
    assert response["Location"] == f"/runs/{run.id}/"
    assert any(s["moduleId"] == "fair_value_gaps" for b in run.request["decisionBlocks"] for s in b["subConfirmations"])
    bad = client.post("/run-backtest-v5", {"payload": json.dumps({**body, "ict": {"entryModel": "nope"}})})
    assert bad.status_code == 400 and b"INVALID_REQUEST" in bad.content
    assert BacktestRun.objects.count() == 1


def test_new_backtest_page_offers_templates_and_admin_flags_stuck_runs(client, alice, admin_client):
    client.force_login(alice)
    page = client.get("/run-backtest-v4").content.decode()
    assert "RSI mean reversion" in page and "run-backtest-v5?template=london_open_fvg" in page
    v5 = client.get("/run-backtest-v5?template=silver_bullet").content.decode()
    assert "silver_bullet" in v5
    from django.utils import timezone

    run = services.backtest_submit(user=alice, body=v4_body())
    BacktestRun.objects.filter(id=run.id).update(
        status="RUNNING", attempts=2, heartbeat_at=timezone.now() - timezone.timedelta(hours=1)
    )
    for flag in ("stuck", "retried"):
        listing = admin_client.get(f"/admin/backtests/backtestrun/?attention={flag}").content.decode()
        assert str(run.id) in listing
    assert str(run.id) not in admin_client.get("/admin/backtests/backtestrun/?attention=failed").content.decode()


def test_a_template_run_is_titled_by_its_template_unless_named(alice_api, alice):
    from reports.render import ReportInputs, report_context

    named_by_template = alice_api.post(URL, {"template": "rsi_mean_reversion", "marketContext": WINDOW}, format="json")
    own_name = alice_api.post(
        URL, {"template": "rsi_mean_reversion", "marketContext": WINDOW, "strategyName": "Mine"}, format="json"
    )
    first = BacktestRun.objects.get(id=named_by_template.json()["id"])
    second = BacktestRun.objects.get(id=own_name.json()["id"])
    assert first.request["strategyName"] == "RSI mean reversion" and second.request["strategyName"] == "Mine"
    assert report_context(first, ReportInputs(trades=[]), for_pdf=False)["title"] == "RSI mean reversion"
    assert first.request_fingerprint == second.request_fingerprint, "a name never changes the result"


def test_the_builder_pages_carry_the_templates_name(client, alice):
    client.force_login(alice)
    page = client.get("/run-backtest-v4").content.decode()
    assert '"strategyName": "RSI mean reversion"' in page
    v5 = client.get("/run-backtest-v5?template=silver_bullet").content.decode()
    assert "strategyName" in v5
