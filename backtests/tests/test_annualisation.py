"""Calendar-true annualisation: bars a year from the market's trading calendar and the bar size,
never from the tested span (docs/metrics.md, "Annualisation")."""

import math

import numpy as np
import pandas as pd
import pytest
from django.test import override_settings

from backtests import services
from backtests.engine import metrics as M
from backtests.models import BacktestRun, RunStatus

from .factories import v4_body

HOURS_A_YEAR = 365.25 * 24
FX_HOURS_A_YEAR = 365.25 * 5 / 7 * 24  # 6,261.4


@pytest.mark.parametrize(
    "calendar, bar, session, bars_a_year, days",
    [
        ("crypto", 3600, None, HOURS_A_YEAR, 365.25),
        ("crypto", 900, None, HOURS_A_YEAR * 4, 365.25),
        ("crypto", 86400, None, 365.25, 365.25),
        ("fx", 3600, None, FX_HOURS_A_YEAR, 365.25 * 5 / 7),
        ("fx", 14400, None, FX_HOURS_A_YEAR / 4, 365.25 * 5 / 7),
        ("fx", 86400, None, 365.25 * 5 / 7, 365.25 * 5 / 7),
        ("index", 3600, 6.5 * 3600, 252 * 7, 252),  # 09:30-16:00: seven hourly bars, the last one short
        ("index", 1800, 6.5 * 3600, 252 * 13, 252),
        ("index", 86400, 6.5 * 3600, 252, 252),
        ("fx", 7 * 86400, None, 365.25 / 7, 365.25 * 5 / 7),
    ],
)
def test_bars_a_year_come_from_the_calendar_and_the_bar(calendar, bar, session, bars_a_year, days):
    basis = M.calendar_annualisation(calendar, bar, session)
    assert basis.periods_per_year == pytest.approx(bars_a_year, rel=1e-12)
    assert basis.days_per_year == pytest.approx(days, rel=1e-12)
    assert basis.basis == f"calendar:{calendar}"


@pytest.mark.parametrize("calendar, bar, session", [("moon", 3600, None), ("fx", 0, None), ("index", 3600, None)])
def test_an_unknown_calendar_or_a_bad_bar_is_refused(calendar, bar, session):
    with pytest.raises(ValueError):
        M.calendar_annualisation(calendar, bar, session)


def week_of_hourly_equity(days: int, seed: int = 5) -> pd.Series:
    """Hourly equity from Monday 2024-03-04 00:00 UTC over ``days`` whole days."""
    rng = np.random.default_rng(seed)
    bars = days * 24
    values = 10_000 * np.cumprod(1 + rng.normal(0.0002, 0.002, bars))
    return pd.Series(values, index=pd.date_range("2024-03-04", periods=bars, freq="h", tz="UTC"))


def by_hand(equity: pd.Series, per_year: float) -> float:
    r = equity.to_numpy()[1:] / equity.to_numpy()[:-1] - 1
    return r.mean() / r.std(ddof=1) * math.sqrt(per_year)


def test_a_one_week_fx_window_is_annualised_by_the_24_5_calendar_not_the_span():
    equity = week_of_hourly_equity(days=5)  # Monday 00:00 to Friday 23:00: no weekend inside
    fx = M.calendar_annualisation("fx", 3600)
    calendar = M.compute_all(pd.DataFrame({"pnl": []}), equity, 10_000.0, annualisation=fx)
    observed = M.compute_all(pd.DataFrame({"pnl": []}), equity, 10_000.0)
    assert calendar["sharpe"] == pytest.approx(by_hand(equity, FX_HOURS_A_YEAR), rel=1e-12)
    assert calendar["periods_per_year"] == pytest.approx(FX_HOURS_A_YEAR) and calendar["annualisation"] == "calendar:fx"
    # the span's own count (119 returns in 119 hours) says 8,766 bars a year: Sharpe x1.18
    assert observed["periods_per_year"] == pytest.approx(HOURS_A_YEAR) and observed["annualisation"] == "observed"
    assert observed["sharpe"] / calendar["sharpe"] == pytest.approx(math.sqrt(7 / 5), rel=1e-9)
    daily = equity.groupby(equity.index.floor("D")).last().to_numpy()
    day_returns = daily[1:] / daily[:-1] - 1
    expected_daily = day_returns.mean() / day_returns.std(ddof=1) * math.sqrt(365.25 * 5 / 7)
    assert calendar["sharpe_daily"] == pytest.approx(expected_daily, rel=1e-12)


def test_a_one_week_crypto_window_is_annualised_by_the_24_7_calendar():
    equity = week_of_hourly_equity(days=7)  # every hour of the week trades
    crypto = M.calendar_annualisation("crypto", 3600)
    calendar = M.compute_all(pd.DataFrame({"pnl": []}), equity, 10_000.0, annualisation=crypto)
    observed = M.compute_all(pd.DataFrame({"pnl": []}), equity, 10_000.0)
    assert calendar["sharpe"] == pytest.approx(by_hand(equity, HOURS_A_YEAR), rel=1e-12)
    assert calendar["sortino"] == pytest.approx(observed["sortino"], rel=1e-9), "a full week: the span agrees"
    assert calendar["periods_per_year"] == pytest.approx(HOURS_A_YEAR)


@pytest.mark.parametrize(
    "symbol, timeframe, bars_a_year, basis",
    [
        ("EURUSD", "1h", FX_HOURS_A_YEAR, "calendar:fx"),
        ("XAUUSD", "15m", FX_HOURS_A_YEAR * 4, "calendar:fx"),
        ("BTCUSD", "1h", HOURS_A_YEAR, "calendar:crypto"),
        ("US30", "1h", 252 * 7, "calendar:index"),
        ("GER40", "1d", 252, "calendar:index"),
    ],
)
def test_the_service_picks_the_markets_calendar(symbol, timeframe, bars_a_year, basis):
    chosen = services.market_annualisation(symbol=symbol, timeframe=timeframe)
    assert chosen.periods_per_year == pytest.approx(bars_a_year) and chosen.basis == basis


@pytest.mark.django_db
@pytest.mark.parametrize(
    "market, bars_a_year, basis", [("EURUSD", FX_HOURS_A_YEAR, "fx"), ("BTCUSD", HOURS_A_YEAR, "crypto")]
)
def test_an_executed_run_is_annualised_by_its_markets_calendar(alice, market, bars_a_year, basis):
    body = v4_body(
        marketContext__market=market,
        marketContext__startDate="2024-03-04T00:00:00Z",
        marketContext__endDate="2024-03-11T00:00:00Z",
    )
    with override_settings(QM_RENDER_PDF=False):
        run = services.backtest_submit(user=alice, body=body)
        assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
    metrics = BacktestRun.objects.get(id=run.id).metrics
    assert metrics["periods_per_year"] == pytest.approx(bars_a_year)
    assert metrics["annualisation"] == f"calendar:{basis}"
