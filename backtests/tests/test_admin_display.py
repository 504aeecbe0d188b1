"""The admin reads like a product: summaries, rounded numbers, short ids, no raw dumps."""

from __future__ import annotations

import re

import pytest

from backtests.models import Trade
from qm_platform.admin_display import json_summary, number, short_id, sparkline
from reports.tests.factories import stored_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="root-password"))
    return client


def test_numbers_are_rounded_to_their_units_and_ids_are_short():
    assert number(-99.00000000000001) == "-99.00" and number(229945.31900314346) == "229,945.32"
    assert number(1.0812345, 5) == "1.08123" and number(-0.0001) == "0.00" and number(None) == "–"
    assert number(3.5, 1, suffix=" %", signed=True) == "+3.5 %" and number(float("nan")) == "–"
    html = short_id("3f2a9c1e-1111-2222-3333-444455556666")
    assert ">3f2a9c1e<" in html and 'title="3f2a9c1e-1111-2222-3333-444455556666"' in html


def test_long_json_is_folded_and_a_series_is_a_sparkline():
    folded = json_summary({"points": list(range(500))}, lines=6)
    assert folded.startswith('<details class="qm-json"><summary>1 keys: points')
    assert json_summary({"a": 1}) == '<pre class="qm-json">{\n  &quot;a&quot;: 1\n}</pre>'
    svg = sparkline(list(range(10_000)), width=200)
    assert svg.startswith("<svg") and svg.count(",") <= 202 and "#15803d" in svg


def test_a_run_page_shows_a_summary_not_the_stored_json(root_client, alice):
    run = stored_run(alice, trades=30)
    Trade.objects.filter(run=run, seq=1).update(pnl=-99.00000000000001, entry_price=2034.123456789)
    html = root_client.get(f"/admin/backtests/backtestrun/{run.id}/change/").content.decode()
    assert "Key figures" in html and "Net return" in html and '<svg class="qm-spark"' in html
    assert "-99.00" in html and "-99.00000000000001" not in html and "2,034.12" in html
    assert f'href="/runs/{run.id}/"' in html and "qm/admin.css" in html
    assert len(re.findall(r"\d{2}:\d{2}:\d{2}", html)) < 400, "no dump of the equity curve's times"
    assert str(run.equity_curve[5][1]) not in html


def test_the_runs_list_shows_short_ids_and_fits(root_client, alice):
    run = stored_run(alice, trades=5)
    html = root_client.get("/admin/backtests/backtestrun/").content.decode()
    assert f'title="{run.id}">{str(run.id)[:8]}</span>' in html and "qm/admin.css" in html
    assert f"/admin/backtests/backtestrun/{run.id}/change/" in html


def test_a_run_is_read_not_edited_in_the_admin_and_can_be_run_again(root_client, alice):
    run = stored_run(alice, trades=3)
    page = root_client.get(f"/admin/backtests/backtestrun/{run.id}/change/").content.decode()
    assert 'name="_save"' not in page and "View backtest run" in page
    assert root_client.post(f"/admin/backtests/backtestrun/{run.id}/change/", {}).status_code == 403
    assert root_client.get("/admin/backtests/backtestrun/add/").status_code == 403
    listing = root_client.get("/admin/backtests/backtestrun/").content.decode()
    assert 'value="rerun"' in listing
    response = root_client.post(
        "/admin/backtests/backtestrun/", {"action": "rerun", "_selected_action": [str(run.id)]}, follow=True
    )
    assert response.status_code == 200 and alice.backtest_runs.count() == 2
