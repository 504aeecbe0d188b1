"""The ICT (V5) builder is a form: its fields make the V5 body, the JSON panel mirrors it, and
it sits in the navigation beside the V4 builder."""

from __future__ import annotations

import pytest

from backtests.models import BacktestRun
from backtests.strategies.ict_form import ict_body_from_form, ict_form_values
from backtests.tests.factories import v4_body

pytestmark = pytest.mark.django_db

FORM = {
    "market": "eurusd",
    "timeframe": "15m",
    "direction": "Short",
    "testPeriod": "1mo",
    "session": "london_open",
    "dataSource": "synthetic",
    "entryModel": "order_block",
    "htfBias": "4h",
    "requireMss": "on",
    "premiumDiscount": "on",
    "stopPlacement": "swing",
    "stopBufferPct": "0.1",
    "targetType": "r",
    "targetR": "3",
    "maxTradesPerSession": "2",
    "strategyName": "OB short",
}


def test_the_form_fields_make_the_v5_body_and_back():
    body = ict_body_from_form(FORM)
    assert body == {
        "kind": "ict",
        "marketContext": {
            "market": "EURUSD",
            "timeframe": "15m",
            "direction": "Short",
            "testPeriod": "1mo",
            "session": "london_open",
            "dataSource": "synthetic",
        },
        "ict": {
            "entryModel": "order_block",
            "htfBias": {"timeframe": "4h"},
            "requireMss": True,
            "requireSweep": False,
            "premiumDiscount": True,
            "stop": {"placement": "swing", "bufferPct": 0.1},
            "target": {"type": "r", "value": 3},
            "maxTradesPerSession": 2,
        },
        "strategyName": "OB short",
    }
    values = ict_form_values(body)
    assert values["entryModel"] == "order_block" and values["htfBias"] == "4h" and values["targetR"] == 3
    assert values["requireSweep"] is False and values["stopPlacement"] == "swing"


def test_the_builder_is_a_form_in_the_navigation(client, alice):
    client.force_login(alice)
    html = client.get("/run-backtest-v5").content.decode()
    for name in ("entryModel", "htfBias", "requireMss", "requireSweep", "premiumDiscount", "stopPlacement"):
        assert f'name="{name}"' in html
    for name in ("stopBufferPct", "targetType", "targetR", "maxTradesPerSession", "session"):
        assert f'name="{name}"' in html
    assert '<a href="/run-backtest-v5">ICT builder</a>' in client.get("/runs/").content.decode()


def test_posting_the_form_runs_the_setup(client, alice):
    client.force_login(alice)
    response = client.post("/run-backtest-v5", {**FORM, "payload": "{}", "source": "form"})
    assert response.status_code == 303, response.content.decode()[:2000]
    run = BacktestRun.objects.get(owner=alice)
    subs = [s["moduleId"] for b in run.request["decisionBlocks"] for s in b["subConfirmations"]]
    assert "order_blocks" in subs and "htf_filter" in subs and "liquidity_sweep" not in subs
    assert run.direction == "Short" and run.request["exit"]["takeProfit"] == {"unit": "r", "value": 3}


def test_a_bad_field_is_shown_as_a_sentence_with_the_form_kept(client, alice):
    client.force_login(alice)
    response = client.post("/run-backtest-v5", {**FORM, "stopBufferPct": "50"})
    html = response.content.decode()
    assert response.status_code == 400 and BacktestRun.objects.count() == 0
    assert "ict.stop.bufferPct: Ensure this value is less than or equal to 10.</li>" in html, html[:3000]
    assert 'value="OB short"' in html


def test_the_builder_offers_the_users_ict_strategies_to_load_and_save(client, alice, bob):
    from backtests.library import services as library

    setup = library.strategy_create(user=alice, name="OB short", body=ict_body_from_form(FORM))
    library.strategy_create(user=alice, name="A V4 one", body=v4_body())
    client.force_login(alice)
    html = client.get("/run-backtest-v5").content.decode()
    assert 'id="save-as"' in html and 'id="save-version" disabled' in html
    assert f'<option value="{setup.id}">OB short (v1)</option>' in html and "A V4 one" not in html
    loaded = client.get(f"/run-backtest-v5?strategy={setup.id}").content.decode()
    assert f'name="strategy_ref" id="strategy-ref" value="{setup.id}"' in loaded and "Editing" in loaded
    client.force_login(bob)
    theirs = client.get(f"/run-backtest-v5?strategy={setup.id}").content.decode()
    assert "OB short" not in theirs and 'id="strategy-ref" value=""' in theirs
