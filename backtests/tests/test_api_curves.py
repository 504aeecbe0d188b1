"""GET /backtests/{id}/montecarlo and /equity: stored results first, the same numbers computed
again for other settings, bounded work, the one error contract, and each user's own runs only."""

import csv
import io

import numpy as np
import pandas as pd
import pytest
from django.test import override_settings

from backtests import services
from backtests.engine import metrics as M
from backtests.engine import montecarlo as mc
from backtests.engine.downsample import curve_points
from backtests.models import BacktestRun, RunStatus, Trade

from .factories import v4_body

pytestmark = pytest.mark.django_db
URL = "/api/v1/backtests"


@pytest.fixture
def executed(alice):
    """A run executed by the worker's code on synthetic data (six months of XAUUSD hours)."""
    with override_settings(QM_RENDER_PDF=False):
        run = services.backtest_submit(user=alice, body=v4_body())
        assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    run = BacktestRun.objects.get(id=run.id)
    assert run.trade_count > 10
    return run


def test_the_worker_stores_both_monte_carlo_methods_with_the_default_settings(executed):
    stored = executed.montecarlo
    assert set(stored) == {"bootstrap", "shuffle"}
    for method, result in stored.items():
        assert result["settings"] == {
            "paths": mc.DEFAULT_PATHS,
            "method": method,
            "seed": mc.DEFAULT_SEED,
            "ruin_pct": mc.DEFAULT_RUIN_PCT,
            "trades": executed.trade_count,
        }
    assert stored["shuffle"]["actual"]["final_return_pct"] == pytest.approx(
        executed.metrics["net_return_pct"], rel=1e-9
    ), "the trades compounded on the equity before each give the run's net return"


def test_the_default_answer_is_the_stored_one_and_equals_a_recompute(alice_api, executed):
    response = alice_api.get(f"{URL}/{executed.id}/montecarlo")
    assert response.status_code == 200, response.content
    assert response.json() == executed.montecarlo["bootstrap"]
    pnl = np.array(list(Trade.objects.filter(run=executed).order_by("seq").values_list("pnl", flat=True)))
    again = mc.monte_carlo(mc.trade_returns_on_equity(pnl, executed.metrics["initial_capital"]))
    assert again == executed.montecarlo["bootstrap"]


def test_other_settings_are_computed_and_echoed(alice_api, executed):
    body = alice_api.get(f"{URL}/{executed.id}/montecarlo?paths=800&method=shuffle&seed=3&ruin=10").json()
    assert body["settings"] == {
        "paths": 800,
        "method": "shuffle",
        "seed": 3,
        "ruin_pct": 10.0,
        "trades": executed.trade_count,
    }
    assert body["final_return_pct"]["p5"] == pytest.approx(body["final_return_pct"]["p95"], rel=1e-9)
    assert body == alice_api.get(f"{URL}/{executed.id}/montecarlo?paths=800&method=shuffle&seed=3&ruin=10").json()


@pytest.mark.parametrize(
    "query, field",
    [("paths=100001", "paths"), ("paths=0", "paths"), ("method=jackknife", "method"), ("ruin=0", "ruin")],
)
def test_bad_settings_are_400_and_the_cap_is_named(alice_api, executed, query, field):
    response = alice_api.get(f"{URL}/{executed.id}/montecarlo?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_REQUEST" and field in body["details"]["fields"]
    if query == "paths=100001":
        assert "100,000" in body["error"]


def test_the_equity_curve_has_every_bar_and_the_runs_drawdown(alice_api, executed):
    body = alice_api.get(f"{URL}/{executed.id}/equity").json()
    assert body["source"] == "detail" and body["points"] == executed.bars and body["thinned"] is False
    assert len(body["time"]) == len(body["equity"]) == len(body["drawdown_pct"]) == executed.bars
    assert -min(body["drawdown_pct"]) == pytest.approx(executed.metrics["max_drawdown_pct"], abs=1e-6)
    assert body["max_drawdown_pct"] == executed.metrics["max_drawdown_pct"]


def test_a_run_stored_with_the_older_pairs_answers_the_same(alice_api, executed):
    stored = BacktestRun.objects.get(id=executed.id).equity_detail
    assert isinstance(stored, dict)  # the worker stores columns
    columns = alice_api.get(f"{URL}/{executed.id}/equity").json()
    pairs = [list(p) for p in zip(*curve_points(stored))]
    assert pairs[0][0] == executed.data_start.isoformat()
    BacktestRun.objects.filter(id=executed.id).update(equity_detail=pairs)  # as runs before the columns were
    assert alice_api.get(f"{URL}/{executed.id}/equity").json() == columns


def test_the_equity_curve_as_csv(alice_api, executed):
    response = alice_api.get(f"{URL}/{executed.id}/equity?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["time", "equity", "drawdown_pct"] and len(rows) == executed.bars + 1
    assert float(rows[-1][1]) == pytest.approx(executed.metrics["final_equity"], abs=1e-6)


def test_a_long_curve_is_thinned_with_its_drawdown_kept(alice_api, executed):
    rng = np.random.default_rng(4)
    values = 10_000 * np.cumprod(1 + rng.normal(0, 0.001, 30_000))
    values[17_001] = values[:17_001].max() * 0.7
    equity = pd.Series(values, index=pd.date_range("2020-01-01", periods=len(values), freq="15min", tz="UTC"))
    BacktestRun.objects.filter(id=executed.id).update(
        equity_detail=M.downsample_equity(equity, services.EQUITY_DETAIL_POINTS),
        bars=len(values),
        metrics={**executed.metrics, "max_drawdown_pct": M.max_drawdown_pct(values)},
    )
    body = alice_api.get(f"{URL}/{executed.id}/equity").json()
    assert body["thinned"] is True and body["points"] <= services.EQUITY_DETAIL_POINTS + 4
    assert -min(body["drawdown_pct"]) == pytest.approx(body["max_drawdown_pct"], abs=1e-6)
    assert max(body["equity"]) == pytest.approx(values.max(), abs=1e-6)


def test_curves_belong_to_their_owner_and_need_a_finished_run(alice_api, bob_api, anon_api, executed, alice):
    for path in ("montecarlo", "equity"):
        assert bob_api.get(f"{URL}/{executed.id}/{path}").status_code == 404
        assert anon_api.get(f"{URL}/{executed.id}/{path}").status_code in (401, 403)
    queued = services.backtest_submit(user=alice, body=v4_body(exit__stopLoss=1.5), dispatch=False)
    for path in ("montecarlo", "equity"):
        response = alice_api.get(f"{URL}/{queued.id}/{path}")
        assert response.status_code == 409 and response.json()["code"] == "INVALID_STATE"
    links = alice_api.get(f"{URL}/{executed.id}").json()["links"]
    assert links["equity"].endswith(f"/{executed.id}/equity") and links["montecarlo"].endswith("/montecarlo")


def test_a_run_without_trades_has_no_monte_carlo(alice_api, executed):
    Trade.objects.filter(run=executed).delete()
    BacktestRun.objects.filter(id=executed.id).update(montecarlo=None)
    response = alice_api.get(f"{URL}/{executed.id}/montecarlo")
    assert response.status_code == 409 and response.json()["details"] == {"trade_count": 0}
