"""Portfolio runs over the API: the request compiler's 400s, the worker, the stored results."""

import time

import pytest
from django.test import override_settings

from backtests import services
from backtests.models import BacktestRun, RunStatus, Trade

from .factories import v4_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_pdf")]

URL = "/api/v1/backtests"
MARKETS = ["EURUSD", "GBPUSD", "XAUUSD", "BTCUSD"]


@pytest.fixture
def no_pdf():
    with override_settings(QM_RENDER_PDF=False):
        yield


def portfolio_body(portfolio=None, markets=None, **changes):
    body = v4_body(marketContext__endDate="2024-03-01T00:00:00Z", **changes)
    context = body["marketContext"]
    context.pop("market")
    context["markets"] = list(MARKETS if markets is None else markets)
    body["portfolio"] = portfolio if portfolio is not None else {"maxOpenPositions": 2}
    return body


def _error(response, field_part):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False and body["code"] in ("INVALID_REQUEST", "MODULE_NOT_FOUND")
    assert field_part in str(body["details"]) or field_part in body["error"], body
    return body


@pytest.mark.parametrize(
    ("markets", "portfolio", "field"),
    [
        (["EURUSD", "XAUSD"], {}, "marketContext.markets[1]"),  # unknown, with suggestions
        (["EURUSD", "EURUSD"], {}, "marketContext.markets[1]"),
        ([f"M{i}" for i in range(51)], {}, "marketContext.markets"),
        (MARKETS, {"allocation": "weights", "weights": {"EURUSD": 0.5, "GBPUSD": 0.4}}, "portfolio.weights"),
        (MARKETS, {"allocation": "weights", "weights": {"EURUSD": 0.5, "USDJPY": 0.5}}, "portfolio.weights.USDJPY"),
        (MARKETS, {"maxOpenPositions": 0}, "portfolio.maxOpenPositions"),
        (MARKETS, {"allocation": "momentum"}, "portfolio.allocation"),
        (MARKETS, {"rebalance": "monthly"}, "portfolio.rebalance"),
        (MARKETS, {"rankBy": {"module": "rocc", "config": {}}}, "rankBy"),
        (MARKETS, {"onMissing": "ignore"}, "portfolio.onMissing"),
        (MARKETS, {"maxOpen": 2}, "portfolio.maxOpen"),
    ],
)
def test_bad_portfolios_are_400_naming_the_field_and_enqueue_nothing(
    alice_api, markets, portfolio, field, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_api.post(URL, portfolio_body(portfolio, markets), format="json")
    body = _error(response, field)
    assert not callbacks and not BacktestRun.objects.exists()
    if field == "marketContext.markets[1]" and "XAUSD" in str(markets):
        assert "XAUUSD" in body["details"]["close_matches"]


def test_portfolio_without_markets_and_market_with_markets_are_400(alice_api):
    body = v4_body(portfolio={"maxOpenPositions": 2})
    _error(alice_api.post(URL, body, format="json"), "portfolio")
    both = portfolio_body()
    both["marketContext"]["market"] = "EURUSD"
    _error(alice_api.post(URL, both, format="json"), "market")
    dataset = portfolio_body(marketContext__dataSource=3)
    _error(alice_api.post(URL, dataset, format="json"), "dataSource")


def test_a_portfolio_runs_and_stores_trades_by_market_and_the_report_section(alice_api, alice):
    response = alice_api.post(
        URL,
        portfolio_body({"maxOpenPositions": 2, "rankBy": {"module": "roc", "config": {"period": 10}}}),
        format="json",
    )
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    run = BacktestRun.objects.get(id=run_id)
    assert run.market == "EURUSD" and run.request["marketContext"]["markets"] == MARKETS
    assert services.backtest_execute(run_id=run_id) == RunStatus.SUCCEEDED
    run.refresh_from_db()
    trades = Trade.objects.filter(run=run)
    assert trades.exists() and set(trades.values_list("market", flat=True)) <= set(MARKETS)
    assert len(set(trades.values_list("market", flat=True))) > 1
    section = run.report_data["portfolio"]
    assert [c["market"] for c in section["contribution"]] == MARKETS
    assert sum(c["trades"] for c in section["contribution"]) == run.trade_count
    assert section["max_open_positions"] <= 2
    assert len(section["correlation"]["matrix"]) == len(MARKETS)
    assert "portfolio: 4 markets" in run.metrics["strategy_text"]
    api_trades = alice_api.get(f"{URL}/{run_id}/trades").json()
    rows = api_trades["results"] if isinstance(api_trades, dict) else api_trades
    assert {row["market"] for row in rows} <= set(MARKETS)
    # the run page and the report render the portfolio section from the stored numbers
    from django.test import Client

    from backtests import selectors
    from reports.render import render_report_html

    client = Client()
    client.force_login(alice)
    html = client.get(f"/runs/{run_id}/").content.decode()
    for part in ('id="portfolio"', 'id="chart-contribution"', 'id="chart-correlation"', 'id="chart-exposure"'):
        assert part in html
    assert all(f'data-market="{m}"' in html for m in MARKETS)
    pdf_html = render_report_html(run, for_pdf=True, inputs=selectors.report_inputs_for_run(run=run))
    assert 'id="portfolio"' in pdf_html and "Contribution to P&amp;L by market" in pdf_html


def test_progress_names_each_market_and_cancel_stops_within_a_second(alice, monkeypatch):
    run = services.backtest_submit(user=alice, body=portfolio_body(markets=MARKETS))
    stages = []
    cancelled_at = []
    real_write = services.ProgressWriter.write

    def spy(self, stage, pct):
        stages.append(stage)
        if stage == "computing_modules:GBPUSD" and not cancelled_at:
            BacktestRun.objects.filter(id=run.id).update(status=RunStatus.CANCELLED)
            cancelled_at.append(time.monotonic())
        return real_write(self, stage, pct)

    monkeypatch.setattr(services.ProgressWriter, "write", spy)
    with override_settings(QM_PROGRESS_MIN_INTERVAL=0):
        assert services.backtest_execute(run_id=run.id) == RunStatus.CANCELLED
    stopped = time.monotonic()
    assert "loading_data:EURUSD" in stages and "computing_modules:EURUSD" in stages
    assert stopped - cancelled_at[0] < 1.0
    assert not Trade.objects.filter(run=run).exists()


def test_a_market_without_data_fails_the_run_or_is_skipped_with_a_warning(alice, monkeypatch):
    from marketdata import services as data_services
    from qm_platform.errors import CodedError

    real = data_services.market_data_load

    def missing_gbp(*, run, symbol=None):
        if symbol == "GBPUSD":
            raise CodedError("DATA_UNAVAILABLE", "Yahoo Finance is unavailable and nothing is cached")
        return real(run=run, symbol=symbol)

    monkeypatch.setattr("backtests.portfolios.market_data_load", missing_gbp)
    failing = services.backtest_submit(user=alice, body=portfolio_body())
    assert services.backtest_execute(run_id=failing.id) == RunStatus.FAILED
    failing.refresh_from_db()
    assert failing.error_code == "DATA_UNAVAILABLE" and failing.error_message.startswith("GBPUSD:")
    skipping = services.backtest_submit(user=alice, body=portfolio_body({"onMissing": "skip"}))
    assert services.backtest_execute(run_id=skipping.id) == RunStatus.SUCCEEDED
    skipping.refresh_from_db()
    assert any(w.startswith("Left GBPUSD out of the portfolio") for w in skipping.warnings)
    assert "GBPUSD" not in set(Trade.objects.filter(run=skipping).values_list("market", flat=True))
