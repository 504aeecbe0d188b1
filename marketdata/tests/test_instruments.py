"""The instrument table: shipped for every mapped market, seeded into the database, editable in
the admin, and resolved for a run (a generic default with a warning for an unknown symbol)."""

from __future__ import annotations

import pytest

from marketdata.instrument_table import TABLE_PATH, shipped_table
from marketdata.models import Instrument
from marketdata.providers.synthetic import BASE_PRICES
from marketdata.providers.yahoo import SYMBOL_MAP
from marketdata.selectors import instrument_resolve
from marketdata.validation import market_calendar


def test_every_market_the_project_maps_has_an_entry():
    table = shipped_table()
    assert set(SYMBOL_MAP) <= set(table) and set(BASE_PRICES) <= set(table)
    for symbol in ("XAUUSD", "EURUSD", "GBPUSD", "BTCUSD", "US30", "NAS100", "SPX500", "GER40"):
        assert not table[symbol].generic


def test_entries_agree_with_the_data_calendar_and_are_sensible():
    for symbol, instrument in shipped_table().items():
        assert instrument.calendar == market_calendar(symbol), symbol
        assert 1 <= instrument.max_leverage <= 100, symbol
        assert instrument.min_lots >= instrument.lot_step > 0, symbol
        expected = {"crypto": "funding", "future": "none"}.get(instrument.asset_class, "swap")
        assert instrument.financing == expected, symbol
    assert shipped_table()["EURUSD"].decimals == 5 and shipped_table()["XAUUSD"].decimals == 2


def test_the_table_ships_with_the_package():
    import tomllib

    pyproject = tomllib.loads((TABLE_PATH.parents[1] / "pyproject.toml").read_text())
    assert "instruments.json" in pyproject["tool"]["setuptools"]["package-data"]["marketdata"]


@pytest.mark.django_db
def test_the_migration_seeds_the_table_and_the_database_row_wins():
    assert Instrument.objects.count() == len(shipped_table())
    gold = Instrument.objects.get(symbol="XAUUSD")
    assert gold.as_engine() == shipped_table()["XAUUSD"]
    Instrument.objects.filter(symbol="XAUUSD").update(margin_rate=0.1)
    instrument, warning = instrument_resolve(symbol="xauusd")
    assert instrument.max_leverage == pytest.approx(10.0) and warning is None


@pytest.mark.django_db
def test_an_unknown_symbol_gets_the_generic_default_and_a_warning():
    instrument, warning = instrument_resolve(symbol="ACME")
    assert instrument.generic and instrument.symbol == "ACME" and instrument.max_leverage == pytest.approx(10.0)
    assert warning and "ACME is not in the instrument table" in warning and "generic default" in warning
    # a row deleted from the database falls back to the shipped one, not the generic default
    Instrument.objects.filter(symbol="EURUSD").delete()
    assert instrument_resolve(symbol="EURUSD") == (shipped_table()["EURUSD"], None)


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="root-password"))
    return client


@pytest.mark.django_db
def test_the_admin_lists_and_edits_instruments_and_refuses_what_the_engine_would(admin_client):
    assert b"XAUUSD" in admin_client.get("/admin/marketdata/instrument/").content
    gold = Instrument.objects.get(symbol="XAUUSD")
    url = f"/admin/marketdata/instrument/{gold.id}/change/"
    form = {
        field.name: getattr(gold, field.name)
        for field in Instrument._meta.fields
        if field.name not in ("id", "updated_at")
    }
    response = admin_client.post(url, {**form, "margin_rate": 2})
    assert response.status_code == 200 and b"margin_rate is a fraction of the notional" in response.content
    response = admin_client.post(url, {**form, "spread": 0.5})
    assert response.status_code == 302
    assert Instrument.objects.get(symbol="XAUUSD").spread == 0.5
