"""The benchmark end to end: the request's ``benchmark`` is checked at submission (a bad one is a
400 and never reaches a worker), the worker measures the run against it (buy-and-hold of the same
market by default) and stores the figures and the rolling series, and GET /benchmark answers
them from the stored run, to its owner only."""

import pandas as pd
import pytest
from django.test import override_settings

from backtests import selectors, services
from backtests.engine import benchmark as B
from backtests.models import BacktestRun, RunStatus
from marketdata.providers.synthetic import SyntheticProvider
from marketdata.services import dataset_import_csv

from .factories import v4_body

pytestmark = pytest.mark.django_db
URL = "/api/v1/backtests"
FIGURES = set(selectors.BENCHMARK_KEYS)


def execute(user, body) -> BacktestRun:
    with override_settings(QM_RENDER_PDF=False):
        run = services.backtest_submit(user=user, body=body)
        assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    return BacktestRun.objects.get(id=run.id)


def spx500_upload(user, start: str, end: str):
    """A CSV upload of synthetic SPX500 hours, owned by ``user``."""
    frame = SyntheticProvider().download("SPX500", "1h", pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"))
    frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    csv = frame.rename_axis("Datetime").rename(columns=str.capitalize).to_csv().encode()
    return dataset_import_csv(user=user, data=csv, symbol="SPX500", timeframe="1h").dataset


@pytest.fixture
def executed(alice):
    return execute(alice, v4_body())


def test_by_default_the_run_is_measured_against_holding_its_own_market(executed):
    metrics = executed.metrics
    assert metrics["benchmark"] == "XAUUSD buy and hold"
    assert set(metrics) >= FIGURES
    assert metrics["benchmark_return_pct"] == pytest.approx(metrics["buy_and_hold_return_pct"], rel=1e-9)
    assert metrics["beta"] is not None and -1 <= metrics["correlation"] <= 1
    rolling = executed.report_data["rolling"]
    assert rolling["window_days"] == 90 and len(rolling["time"]) == len(rolling["sharpe"]) == len(rolling["beta"])
    assert pd.Timestamp(rolling["time"][0]) >= pd.Timestamp(executed.data_start) + pd.Timedelta(days=90)
    assert executed.report_data["benchmark_name"] == "XAUUSD buy and hold"


def test_get_benchmark_answers_the_stored_figures(alice_api, executed):
    response = alice_api.get(f"{URL}/{executed.id}/benchmark")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["benchmark"] == "XAUUSD buy and hold"
    assert body["metrics"] == {key: executed.metrics[key] for key in selectors.BENCHMARK_KEYS}
    assert body["rolling"] == executed.report_data["rolling"]
    assert len(body["time"]) == len(body["equity"]) == len(body["benchmark_equity"]) == len(executed.equity_curve)
    assert body["benchmark_equity"][0] == pytest.approx(body["initial_capital"])
    last = body["benchmark_equity"][-1] / body["initial_capital"] - 1
    assert 100 * last == pytest.approx(executed.metrics["benchmark_return_pct"], rel=1e-6)
    assert alice_api.get(f"{URL}/{executed.id}").json()["links"]["benchmark"].endswith("/benchmark")


def test_another_users_run_is_404_and_anonymous_401(bob_api, anon_api, executed):
    response = bob_api.get(f"{URL}/{executed.id}/benchmark")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    assert anon_api.get(f"{URL}/{executed.id}/benchmark").status_code == 401


def test_a_run_stored_before_benchmarks_is_409(alice_api, executed):
    metrics = {k: v for k, v in executed.metrics.items() if k not in FIGURES and k != "benchmark"}
    BacktestRun.objects.filter(id=executed.id).update(metrics=metrics)
    response = alice_api.get(f"{URL}/{executed.id}/benchmark")
    assert response.status_code == 409 and response.json()["code"] == "INVALID_STATE"


def test_another_symbol_is_loaded_and_held_over_the_same_window(alice):
    run = execute(alice, v4_body(benchmark="spx500"))
    assert run.request["benchmark"] == {"market": "SPX500", "dataSource": "synthetic"}, "stored in one form"
    metrics = run.metrics
    assert metrics["benchmark"] == "SPX500 buy and hold (synthetic)"
    prices = SyntheticProvider().download(
        "SPX500", "1h", pd.Timestamp(run.data_start), pd.Timestamp(run.data_end) + pd.Timedelta(hours=1)
    )
    times = pd.DatetimeIndex([pd.Timestamp(run.data_start), pd.Timestamp(run.data_end)])
    first, last = B.closes_at(prices["close"], times)
    assert metrics["benchmark_return_pct"] == pytest.approx(100 * (last / first - 1), rel=1e-9)
    assert metrics["benchmark_return_pct"] != pytest.approx(metrics["buy_and_hold_return_pct"], rel=1e-3)
    stored = dict(run.report_data["benchmark"])
    assert stored[run.equity_curve[-1][0]] == pytest.approx(10_000 * last / first, rel=1e-9)


def test_a_dataset_benchmark(alice):
    dataset = spx500_upload(alice, "2023-12-01", "2024-07-02")
    run = execute(alice, v4_body(benchmark={"dataSource": dataset.id}))
    assert run.request["benchmark"] == {"market": "SPX500", "dataSource": dataset.id}
    assert run.metrics["benchmark"] == f"SPX500 buy and hold (dataset {dataset.id})"
    synthetic = execute(alice, v4_body(benchmark="SPX500", cache=False))
    assert run.metrics["beta"] == pytest.approx(synthetic.metrics["beta"], rel=1e-6), "the same prices"


@pytest.mark.parametrize(
    "wanted, field",
    [
        ("SPX5000", "benchmark.market"),
        ({"market": "SPX500", "dataSource": "bloomberg"}, "benchmark.dataSource"),
        ({"market": "SPX500", "extra": 1}, "benchmark"),
        (["SPX500"], "benchmark"),
        ({"market": "../etc"}, "benchmark"),
    ],
)
def test_a_bad_benchmark_is_400_and_nothing_is_queued(alice_api, wanted, field):
    response = alice_api.post(URL, v4_body(benchmark=wanted), format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == "INVALID_REQUEST"
    assert body["details"]["field"] == field
    assert not BacktestRun.objects.exists()


def test_an_unknown_synthetic_symbol_suggests_the_close_ones(alice_api):
    body = alice_api.post(URL, v4_body(benchmark="SPX50"), format="json").json()
    assert "SPX500" in body["details"]["suggestions"]


def test_a_dataset_the_user_cannot_see_is_400(alice, bob_api):
    dataset = spx500_upload(alice, "2024-01-01", "2024-01-05")
    for source in (dataset.id, 987_654):
        response = bob_api.post(URL, v4_body(benchmark={"dataSource": source}), format="json")
        assert response.status_code == 400 and response.json()["code"] == "DATASET_NOT_FOUND"
    assert not BacktestRun.objects.exists()


def test_the_benchmark_is_part_of_the_result_cache_key(alice):
    first = execute(alice, v4_body())
    other = services.backtest_submit(user=alice, body=v4_body(benchmark="SPX500"))
    assert not other.cached
    again = services.backtest_submit(user=alice, body=v4_body())
    assert again.cached and again.cache_source_id == first.id
