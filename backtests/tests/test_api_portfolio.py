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
        ([], {}, "marketContext.markets"),
        (MARKETS, {"maxOpenPositions": 0}, "portfolio.maxOpenPositions"),
        (MARKETS, {"maxPerMarket": 0}, "portfolio.maxPerMarket"),
        (MARKETS, {"allocation": "weights", "weights": {"EURUSD": 1.5, "GBPUSD": -0.5}}, "portfolio.weights.GBPUSD"),
        (MARKETS, {"allocation": "equal", "weights": {"EURUSD": 1.0}}, "portfolio.weights"),
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


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"exit": {"stopLoss": 1, "intrabar": "15m"}}, "exit.intrabar"),
        ({"account": {"leverage": 5}}, "account"),
        ({"account": {"financing": False}}, "account"),
    ],
)
def test_one_markets_account_and_magnifier_are_400_for_a_portfolio(alice_api, changes, field):
    # the portfolio engine would ignore them: refused rather than silently dropped
    _error(alice_api.post(URL, portfolio_body(**changes), format="json"), field)
    assert not BacktestRun.objects.exists()


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


def test_progress_names_each_market_and_a_cancel_stops_at_the_next_module(alice, monkeypatch):
    run = services.backtest_submit(user=alice, body=portfolio_body(markets=MARKETS))
    stages = []
    real_write = services.ProgressWriter.write

    def spy(self, stage, pct):
        stages.append(stage)
        real_write(self, stage, pct)
        if stage == "computing_modules:GBPUSD":  # the user cancels as GBPUSD's modules start
            BacktestRun.objects.filter(id=run.id).update(status=RunStatus.CANCELLED)

    monkeypatch.setattr(services.ProgressWriter, "write", spy)
    with override_settings(QM_PROGRESS_MIN_INTERVAL=0):
        assert services.backtest_execute(run_id=run.id) == RunStatus.CANCELLED
    # every market's data is loaded first, in the basket's order (a load that generates bars
    # reports its stage again with each day generated: an empty cache on a fresh clone)
    loading = [i for i, stage in enumerate(stages) if stage.startswith("loading_data:")]
    assert loading == list(range(len(loading)))
    assert list(dict.fromkeys(stages[: len(loading)])) == [f"loading_data:{m}" for m in MARKETS]
    # each market's modules are reported before and after they run: the one after GBPUSD's RSI stops
    assert stages[len(loading) :] == ["computing_modules:EURUSD"] * 2 + ["computing_modules:GBPUSD"] * 2
    assert not Trade.objects.filter(run=run).exists()


@override_settings(QM_CANCEL_CHECK_INTERVAL=0.01, QM_PROGRESS_MIN_INTERVAL=60)
def test_a_cancel_while_a_markets_data_is_generated_stops_its_generation(alice, monkeypatch, settings, tmp_path):
    """Two months of 1m bars per market, generated day by day: the user cancels on the 5th day
    of the second market; the worker stops there, not after the market (or the basket)."""
    from marketdata.providers.synthetic import SyntheticProvider

    settings.QM_DATA_DIR = tmp_path  # an empty cache: every market is generated

    body = portfolio_body(markets=["EURUSD", "BTCUSD", "XAUUSD"], marketContext__timeframe="1m")
    run = services.backtest_submit(user=alice, body=body)
    days = []
    real = SyntheticProvider._intraday

    def one_day(self, symbol, *args, **kwargs):
        days.append(symbol)
        if days.count("BTCUSD") == 5:
            services.backtest_cancel(run=BacktestRun.objects.get(id=run.id))
        time.sleep(0.005)  # a day's bars take a few ms to generate: the check interval passes
        return real(self, symbol, *args, **kwargs)

    monkeypatch.setattr(SyntheticProvider, "_intraday", one_day)
    assert services.backtest_execute(run_id=run.id) == RunStatus.CANCELLED
    assert days.count("EURUSD") > 30  # the first market was loaded whole
    assert 5 <= days.count("BTCUSD") < 15, f"{days.count('BTCUSD')} of BTCUSD's 60 days generated"
    assert "XAUUSD" not in days
    assert not Trade.objects.filter(run=run).exists()


def test_a_timeframe_the_source_lacks_is_400_naming_the_field(alice_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        unknown = alice_api.post(URL, portfolio_body(marketContext__timeframe="7m"), format="json")
        # Yahoo serves 1m bars for the last 30 days only: no market of the basket has them
        yahoo = portfolio_body(marketContext__timeframe="1m", marketContext__dataSource="yahoo")
        too_old = alice_api.post(URL, yahoo, format="json")
    assert unknown.status_code == 400 and unknown.json()["code"] == "INVALID_REQUEST"
    assert "timeframe" in str(unknown.json()["details"])
    assert too_old.status_code == 400, too_old.content
    assert too_old.json()["code"] == "DATA_RANGE_UNAVAILABLE"
    assert too_old.json()["details"]["field"] == "marketContext.testPeriod"
    assert too_old.json()["details"]["timeframe"] == "1m"
    assert not callbacks and not BacktestRun.objects.exists()


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
    # the markets left all have weight 0: the run fails saying so (their weights cannot be shared out)
    weighted = {"onMissing": "skip", "allocation": "weights", "weights": {"GBPUSD": 1.0}}
    unweighted = services.backtest_submit(user=alice, body=portfolio_body(weighted, markets=["EURUSD", "GBPUSD"]))
    assert services.backtest_execute(run_id=unweighted.id) == RunStatus.FAILED
    unweighted.refresh_from_db()
    assert unweighted.error_code == "DATA_UNAVAILABLE" and "weight 0" in unweighted.error_message
