"""Cross-checked, not trusted: the metrics that quantstats also computes, on the same equity and
returns (the shipped golden data), agree to 1e-9 where the definitions match; where they differ
on purpose the test pins the difference that docs/metrics.md ("Cross-check against quantstats")
writes down. Pure: no Django. quantstats is a dev dependency."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests.engine import metrics as M

qs = pytest.importorskip("quantstats")
pytestmark = pytest.mark.filterwarnings("ignore")

DATA = Path(__file__).parent / "data"
CAPITAL = 10_000.0
TIGHT = {"rel": 1e-9, "abs": 1e-9}


@pytest.fixture(scope="module")
def trades():
    return pd.read_csv(f"{DATA}/trades_golden.csv")


@pytest.fixture(scope="module")
def equity():
    frame = pd.read_csv(f"{DATA}/equity_golden.csv")
    return pd.Series(frame["equity"].to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True)))


@pytest.fixture(scope="module", params=["observed", "calendar:crypto"])
def case(request, trades, equity):
    """Our metrics with either annualisation (the golden curve trades every hour: 24/7)."""
    basis = None if request.param == "observed" else M.calendar_annualisation("crypto", 3600)
    return M.compute_all(trades, equity, CAPITAL, annualisation=basis)


def bar_returns(equity: pd.Series) -> pd.Series:
    return equity.pct_change().dropna()


def daily_returns(equity: pd.Series) -> pd.Series:
    return equity.groupby(equity.index.floor("D")).last().pct_change().dropna()


def trade_series(trades: pd.DataFrame) -> pd.Series:
    """The trades' net pnl as a series (quantstats wants a time index; the times do not matter)."""
    return pd.Series(trades["pnl"].to_numpy(), index=pd.date_range("2024-01-01", periods=len(trades), freq="D"))


# ---- definitions that match: agreement to 1e-9 ----------------------------------------------------


def test_ratios_of_the_bar_returns_agree(case, equity):
    per_year = case["periods_per_year"]
    returns = bar_returns(equity)
    assert case["sharpe"] == pytest.approx(qs.stats.sharpe(returns, periods=per_year), **TIGHT)
    assert case["sortino"] == pytest.approx(qs.stats.sortino(returns, periods=per_year), **TIGHT)
    assert case["cagr_pct"] == pytest.approx(100 * qs.stats.cagr(returns, periods=per_year), **TIGHT)
    assert case["calmar"] == pytest.approx(qs.stats.calmar(returns, periods=per_year), **TIGHT)
    assert case["net_return_pct"] == pytest.approx(100 * qs.stats.comp(returns), **TIGHT)


def test_drawdown_agrees(case, equity):
    assert case["max_drawdown_pct"] == pytest.approx(-100 * qs.stats.max_drawdown(equity), **TIGHT)
    assert case["max_drawdown_pct"] == pytest.approx(-100 * qs.stats.max_drawdown(bar_returns(equity)), **TIGHT)


def test_tail_metrics_of_the_daily_returns_agree(case, equity):
    days = daily_returns(equity)
    assert case["omega"] == pytest.approx(qs.stats.omega(days), **TIGHT)
    assert case["tail_ratio"] == pytest.approx(qs.stats.tail_ratio(days), **TIGHT)
    assert case["cvar_95_daily_pct"] == pytest.approx(
        100 * qs.stats.conditional_value_at_risk(days, method="historical"), **TIGHT
    )


def test_monthly_extremes_agree(case, equity):
    returns = bar_returns(equity)
    assert case["best_month_pct"] == pytest.approx(100 * qs.stats.best(returns, aggregate="ME"), **TIGHT)
    assert case["worst_month_pct"] == pytest.approx(100 * qs.stats.worst(returns, aggregate="ME"), **TIGHT)


def test_trade_statistics_agree_on_the_trades_pnl(case, trades):
    pnl = trade_series(trades)
    assert case["payoff_ratio"] == pytest.approx(qs.stats.payoff_ratio(pnl), **TIGHT)
    assert case["profit_factor"] == pytest.approx(qs.stats.profit_factor(pnl), **TIGHT)
    assert case["average_win"] == pytest.approx(qs.stats.avg_win(pnl), **TIGHT)
    assert case["average_loss"] == pytest.approx(qs.stats.avg_loss(pnl), **TIGHT)
    assert case["max_consecutive_wins"] == qs.stats.consecutive_wins(pnl)
    assert case["max_consecutive_losses"] == qs.stats.consecutive_losses(pnl)


# ---- deliberate differences, pinned as documented ------------------------------------------------


def test_ulcer_index_differs_only_in_unit_and_divisor(case, equity):
    """quantstats: √(Σ D² / (returns − 1)) as a fraction; ours: √(mean D² over every bar), percent
    (Martin's definition; the first bar, at its peak, counts with D = 0)."""
    returns = bar_returns(equity)
    n = len(returns)
    theirs = qs.stats.ulcer_index(returns)
    assert case["ulcer_index"] == pytest.approx(100 * theirs * math.sqrt((n - 1) / (n + 1)), **TIGHT)


def test_win_rate_and_kelly_differ_by_the_zero_pnl_trade(case, trades):
    """quantstats leaves zero results out of the win rate; ours counts a break-even trade as a trade
    that did not win (the golden data has one)."""
    pnl = trade_series(trades)
    nonzero = pnl[pnl != 0]
    assert (pnl == 0).sum() == 1
    assert 100 * qs.stats.win_rate(pnl) == pytest.approx(100 * (nonzero > 0).mean(), **TIGHT)
    assert case["win_rate"] == pytest.approx(100 * (pnl > 0).mean(), **TIGHT)
    win = float((nonzero > 0).mean())
    assert 100 * qs.stats.kelly_criterion(pnl) == pytest.approx(100 * (win - (1 - win) / case["payoff_ratio"]), **TIGHT)
    assert case["kelly_pct"] == pytest.approx(M.kelly_fraction(pnl.to_numpy()) * 100, **TIGHT)
    assert not math.isclose(case["kelly_pct"], 100 * qs.stats.kelly_criterion(pnl))


def test_value_at_risk_is_historical_not_parametric(case, equity):
    """quantstats' value_at_risk assumes normal returns (μ + σ·Φ⁻¹(0.05)); ours is the empirical
    5th percentile, as its historical CVaR uses."""
    days = daily_returns(equity)
    assert case["var_95_daily_pct"] == pytest.approx(100 * float(np.quantile(days, 0.05)), **TIGHT)
    parametric = qs.stats.value_at_risk(days)
    assert parametric == pytest.approx(days.mean() + days.std() * -1.6448536269514722, rel=1e-6)
    assert not math.isclose(case["var_95_daily_pct"], 100 * parametric, rel_tol=1e-6)


def test_recovery_factor_is_money_over_money(case, equity):
    """quantstats: |Σ per-bar returns| / |max drawdown| (fractions, sign dropped); ours: net profit /
    max drawdown in money, so a losing run reads negative."""
    theirs = qs.stats.recovery_factor(bar_returns(equity))
    assert theirs > 0 > case["recovery_factor"]
    assert theirs == pytest.approx(abs(bar_returns(equity).sum()) / (case["max_drawdown_pct"] / 100), **TIGHT)
    assert case["recovery_factor"] == pytest.approx(case["net_profit"] / case["max_drawdown"], **TIGHT)


def test_exposure_counts_bars_held_not_bars_that_moved(case, equity):
    """quantstats: the share of non-zero returns rounded up to a whole percent; ours: the bars
    inside a trade (entry to exit, as backtesting.py), unrounded."""
    theirs = 100 * qs.stats.exposure(bar_returns(equity))
    moved = (bar_returns(equity) != 0).mean() * 100
    assert theirs == math.ceil(moved)
    assert case["exposure_pct"] == pytest.approx(60.416666666666664, **TIGHT)


# ---- the benchmark ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def against():
    """Our benchmark figures on the shipped benchmark golden data (daily, 24/7), and the two
    daily return series as quantstats takes them (a tz-naive index: it aligns the benchmark so)."""
    from backtests.engine import benchmark as B

    frame = pd.read_csv(DATA / "benchmark_golden.csv")
    index = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
    equity, closes = (pd.Series(frame[c].to_numpy(), index=index) for c in ("equity", "benchmark_close"))
    ours = B.compare(equity, closes, days_per_year=365.25)
    naive = index.tz_localize(None)
    d = pd.Series(frame["equity"].to_numpy(), index=naive).pct_change().dropna()
    b = pd.Series(frame["benchmark_close"].to_numpy(), index=naive).pct_change().dropna()
    return ours, d, b


def test_alpha_beta_and_correlation_agree(against):
    ours, d, b = against
    greeks = qs.stats.greeks(d, b, periods=365.25)
    assert ours.metrics["beta"] == pytest.approx(greeks["beta"], **TIGHT)
    assert ours.metrics["alpha_pct"] == pytest.approx(100 * greeks["alpha"], **TIGHT)
    assert ours.metrics["correlation"] ** 2 == pytest.approx(qs.stats.r_squared(d, b), **TIGHT)


def test_rolling_sharpe_and_beta_agree(against):
    """On a 24/7 daily curve the 90 calendar days of a window are 90 returns, quantstats' window."""
    ours, d, b = against
    sharpe = qs.stats.rolling_sharpe(d, rolling_period=90, periods_per_year=365.25).dropna()
    beta = qs.stats.rolling_greeks(d, b, periods=90)["beta"].dropna()
    times = pd.DatetimeIndex(ours.rolling["time"]).tz_localize(None)
    assert list(times) == list(sharpe.index) == list(beta.index)
    assert ours.rolling["sharpe"] == pytest.approx(sharpe.to_list(), **TIGHT)  # stored to 10 decimals
    assert ours.rolling["beta"] == pytest.approx(beta.to_list(), **TIGHT)


def test_information_ratio_is_annualised_here(against):
    """quantstats' information ratio is per period; ours is annualised by √(trading days a year),
    as Sharpe is, so the two read on one scale."""
    ours, d, b = against
    theirs = qs.stats.information_ratio(d, b)
    assert ours.metrics["information_ratio"] == pytest.approx(theirs * math.sqrt(365.25), **TIGHT)
    assert not math.isclose(ours.metrics["information_ratio"], theirs, rel_tol=1e-3)
