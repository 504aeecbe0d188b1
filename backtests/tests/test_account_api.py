"""The account fields over the API: the compiler checks them (the standard 400s, before
anything is saved) and resolves the market's instrument into the run's strategy."""

from __future__ import annotations

import pytest

from backtests.models import BacktestRun
from backtests.strategies.compile import request_compile
from marketdata.models import Instrument

from .factories import v4_body

pytestmark = pytest.mark.django_db
URL = "/api/v1/backtests"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"account": {"leverage": 50}}, "account.leverage"),  # XAUUSD allows 20:1
        ({"account": {"leverage": 0}}, "account.leverage"),
        ({"account": {"leverage": "high"}}, "account.leverage"),
        ({"account": {"leverage": 10, "maintenanceMarginPct": 10}}, "account.maintenanceMarginPct"),
        ({"account": {"levrage": 10}}, "account.levrage"),
        ({"account": {"financing": "yes"}}, "account.financing"),
        ({"exit__intrabar": "1h"}, "exit.intrabar"),  # not finer than the 1h run
        ({"exit__intrabar": "7m"}, "exit.intrabar"),
        ({"costs": {"fromInstrument": 1}}, "costs.fromInstrument"),
        ({"costs": {"commissionPerLot": -1}}, "costs.commissionPerLot"),
        ({"costs": {"commissionMin": "1"}}, "costs.commissionMin"),
    ],
)
def test_a_bad_account_field_is_a_400_naming_it_and_saves_nothing(alice_api, changes, field):
    response = alice_api.post(URL, v4_body(**changes), format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == "INVALID_REQUEST"
    assert body["details"]["field"] == field, body
    assert not BacktestRun.objects.exists()


def test_the_compiler_gives_the_run_its_instrument_and_the_defaults_it_implies(alice):
    compiled = request_compile(v4_body(costs={"fromInstrument": True, "commissionMin": 1}), user=alice)
    spec = compiled.spec
    assert spec.instrument is not None and spec.instrument.symbol == "XAUUSD"
    assert spec.account.leverage == pytest.approx(20.0) and spec.account.maintenance_fraction == pytest.approx(0.025)
    assert spec.costs.spread == spec.instrument.spread and spec.costs.commission_min == 1
    Instrument.objects.filter(symbol="XAUUSD").update(commission_per_fill=0.25, commission_min=2)  # the admin's edit
    broker = request_compile(v4_body(costs={"fromInstrument": True}), user=alice).spec.costs
    assert (broker.commission_fixed, broker.commission_min) == (0.25, 2)
    own = request_compile(v4_body(costs={"fromInstrument": True, "spread": 0.1}, account={"leverage": 5}), user=alice)
    assert own.spec.costs.spread == 0.1 and own.spec.account.leverage == 5
    assert "leverage 5:1" in own.spec.describe()


def test_an_unknown_market_runs_with_the_generic_instrument_and_says_so(alice):
    # Yahoo passes unknown tickers through (the synthetic source refuses an unknown market)
    body = v4_body(marketContext__market="ACMEUSD", marketContext__dataSource="yahoo")
    for key in ("startDate", "endDate"):
        body["marketContext"].pop(key)
    body["marketContext"]["testPeriod"] = "1mo"
    compiled = request_compile(body, user=alice)
    assert compiled.spec.instrument is not None and compiled.spec.instrument.generic
    assert any("ACMEUSD is not in the instrument table" in w for w in compiled.warnings), compiled.warnings


def test_an_edit_of_the_instrument_is_a_different_run_for_the_cache(alice_api):
    from marketdata.models import Instrument

    first = alice_api.post(URL, v4_body(), format="json").json()
    Instrument.objects.filter(symbol="XAUUSD").update(spread=0.5)
    second = alice_api.post(URL, v4_body(), format="json").json()
    fingerprints = BacktestRun.objects.filter(id__in=[first["id"], second["id"]]).values_list(
        "request_fingerprint", flat=True
    )
    assert len(set(fingerprints)) == 2
