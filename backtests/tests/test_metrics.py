"""Golden values for every metric on shipped data, each checked by an independent calculation
(plain loops, ``statistics``, scipy), plus the written-down edge cases. Pure: no Django.

Data: backtests/tests/data/trades_golden.csv (23 trades, one with zero pnl) and
equity_golden.csv (240 hourly equity values, 2024-03-04 to 2024-03-13, UTC).
"""

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests.engine import metrics as M

DATA = Path(__file__).parent / "data"
CAPITAL = 10_000.0

GOLDEN = {
    "trade_count": 23,
    "long_trades": 15,
    "short_trades": 8,
    "winning_trades": 8,
    "losing_trades": 14,
    "win_rate": 34.78260869565217,
    "profit_factor": 0.552743129724525,
    "net_profit": -404.11,
    "gross_profit": 499.42,
    "gross_loss": 903.53,
    "profit_before_costs": -367.47,
    "total_fees": 36.64,
    "net_return_pct": -4.0411,
    "cagr_pct": -77.9744710179149,
    "buy_and_hold_return_pct": 3.0,
    "expectancy": -17.57,
    "expectancy_r": -0.1757,
    "average_win": 62.4275,
    "average_loss": -64.53785714285715,
    "payoff_ratio": 0.9673004770179187,
    "largest_win": 123.43,
    "largest_loss": -147.33,
    "max_consecutive_wins": 3,
    "max_consecutive_losses": 4,
    "max_drawdown_pct": 4.574243560591331,
    "max_drawdown": 459.26,
    "max_drawdown_duration_bars": 196,
    "max_drawdown_duration_days": 8.166666666666666,
    "sharpe": -6.455748123239329,
    "sortino": -8.380725847909282,
    "sharpe_daily": -7.334708909153115,
    "sortino_daily": -7.499520671946505,
    "calmar": -17.046418710558303,
    "sqn": -1.186152359114117,
    "exposure_pct": 60.416666666666664,
    "average_bars_held": 5.304347826086956,
    "trades_per_month": 70.29916317991632,
    "esi": 25.0,
    "pvs": 12.98059189090514,
    "initial_capital": 10_000.0,
    "final_equity": 9595.89,
    "period_days": 9.958333333333334,
    # tail and path metrics (daily returns: the equity at each UTC day's last bar)
    "var_95_daily_pct": -2.1117069307472964,
    "cvar_95_daily_pct": -2.2480964595156916,
    "omega": 0.3141475004769823,
    "tail_ratio": 0.2558719878968331,
    "ulcer_index": 2.2266981374518506,
    "recovery_factor": -0.8799155162652993,
    "kelly_pct": -32.63945182623023,
    "best_month_pct": -4.041100000000009,
    "worst_month_pct": -4.041100000000009,
    "monthly_win_rate": 0.0,
    "exposure_adjusted_return_pct": -6.688717241379326,
    "periods_per_year": 8766.0,
}
# The golden curve never climbs back to the peak of its largest drawdown.
GOLDEN_NONE = ("max_drawdown_recovery_bars", "max_drawdown_recovery_days")


@pytest.fixture(scope="module")
def trades():
    return pd.read_csv(DATA / "trades_golden.csv")


@pytest.fixture(scope="module")
def equity():
    frame = pd.read_csv(DATA / "equity_golden.csv")
    return pd.Series(frame["equity"].to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True)))


@pytest.fixture(scope="module")
def close(equity):
    return np.linspace(100, 103, len(equity))


@pytest.fixture(scope="module")
def result(trades, equity, close):
    return M.compute_all(trades, equity, CAPITAL, close=close)


def test_golden_values(result):
    assert set(GOLDEN) <= set(result)
    for key, value in GOLDEN.items():
        assert result[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


def test_golden_undefined_values(result):
    for key in GOLDEN_NONE:
        assert result[key] is None, key
    assert result["monthly_returns"] == [["2024-03", pytest.approx(-4.0411, rel=1e-9)]]
    assert result["annualisation"] == "observed"


def test_result_is_json_safe(result):
    json.dumps(result, allow_nan=False)


# ---- independent checks of the golden values ------------------------------------------------------


def test_trade_statistics_by_hand(trades, result):
    pnl = list(trades.pnl)
    wins, losses = [p for p in pnl if p > 0], [p for p in pnl if p < 0]
    assert result["win_rate"] == pytest.approx(100 * len(wins) / len(pnl))
    assert result["profit_factor"] == pytest.approx(sum(wins) / -sum(losses))
    assert result["payoff_ratio"] == pytest.approx(statistics.mean(wins) / -statistics.mean(losses))
    assert result["expectancy"] == pytest.approx(statistics.mean(pnl))
    assert result["expectancy_r"] == pytest.approx(statistics.mean(trades.r_multiple))
    assert result["profit_before_costs"] == pytest.approx(sum(trades.gross_pnl))

    def longest(pred):
        best = run = 0
        for p in pnl:
            run = run + 1 if pred(p) else 0
            best = max(best, run)
        return best

    assert result["max_consecutive_wins"] == longest(lambda p: p > 0)
    assert result["max_consecutive_losses"] == longest(lambda p: p < 0)
    r = list(trades.r_multiple)
    assert result["sqn"] == pytest.approx(math.sqrt(len(r)) * statistics.mean(r) / statistics.stdev(r))


def test_drawdown_by_hand(equity, result):
    peak, peak_at, worst_pct, worst_money = -math.inf, 0, 0.0, 0.0
    longest_bars, longest_days = 0, 0.0
    values, times = list(equity.to_numpy()), list(equity.index)
    for i, v in enumerate(values):
        if v >= peak:
            if i - peak_at > 1:
                longest_bars = max(longest_bars, i - peak_at)
                longest_days = max(longest_days, (times[i] - times[peak_at]).total_seconds() / 86400)
            peak, peak_at = v, i
        worst_pct = max(worst_pct, (peak - v) / peak * 100)
        worst_money = max(worst_money, peak - v)
    if values[-1] < peak:
        longest_bars = max(longest_bars, len(values) - 1 - peak_at)
        longest_days = max(longest_days, (times[-1] - times[peak_at]).total_seconds() / 86400)
    assert result["max_drawdown_pct"] == pytest.approx(worst_pct)
    assert result["max_drawdown"] == pytest.approx(worst_money)
    assert (result["max_drawdown_duration_bars"], result["max_drawdown_duration_days"]) == (
        longest_bars,
        pytest.approx(longest_days),
    )


def test_ratios_by_hand(equity, result):
    values = equity.to_numpy()
    returns = [values[i] / values[i - 1] - 1 for i in range(1, len(values))]
    years = (equity.index[-1] - equity.index[0]).total_seconds() / (365.25 * 86400)
    per_year = len(returns) / years
    assert result["sharpe"] == pytest.approx(statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(per_year))
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / len(returns))
    assert result["sortino"] == pytest.approx(statistics.mean(returns) / downside * math.sqrt(per_year))
    daily = equity.groupby(equity.index.floor("D")).last()
    day_returns = daily.pct_change().dropna().to_numpy()
    day_years = (daily.index[-1] - daily.index[0]).total_seconds() / (365.25 * 86400)
    assert result["sharpe_daily"] == pytest.approx(
        day_returns.mean() / day_returns.std(ddof=1) * math.sqrt(len(day_returns) / day_years)
    )
    cagr = ((values[-1] / CAPITAL) ** (1 / years) - 1) * 100
    assert result["cagr_pct"] == pytest.approx(cagr)
    assert result["calmar"] == pytest.approx(cagr / result["max_drawdown_pct"])
    assert result["trades_per_month"] == pytest.approx(23 / (years * 12))


def test_exposure_by_hand(trades, equity, result):
    held = set()
    for t in trades.itertuples():
        held.update(range(t.entry_bar, t.exit_bar + 1))
    assert result["exposure_pct"] == pytest.approx(100 * len(held) / len(equity))


def test_esi_by_hand(trades, result):
    pnl = list(trades.pnl)
    k = min(10, len(pnl) // 5)  # 23 trades -> 4 folds of 6, 6, 6, 5
    sizes = [len(pnl) // k + (1 if i < len(pnl) % k else 0) for i in range(k)]
    assert sizes == [6, 6, 6, 5]
    folds, start = [], 0
    for size in sizes:
        folds.append(pnl[start : start + size])
        start += size
    assert result["esi"] == 100 * sum(statistics.mean(f) > 0 for f in folds) / k


def test_pvs_is_the_probabilistic_sharpe_ratio_of_bailey_and_lopez_de_prado(trades, result):
    stats = pytest.importorskip("scipy.stats")
    r = trades.pnl_pct.to_numpy() / 100
    sr = r.mean() / r.std(ddof=1)
    skew = stats.skew(r, bias=True)
    kurt = stats.kurtosis(r, fisher=False, bias=True)
    psr = stats.norm.cdf(sr * math.sqrt(len(r) - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))
    assert result["pvs"] == pytest.approx(100 * psr, rel=1e-12)


def test_psr_properties():
    r = _sample_with_moments(40, mean=0.2, std=1.0)
    sr = r.mean() / r.std(ddof=1)
    assert M.probabilistic_sharpe_ratio(r, sr) == pytest.approx(0.5)  # benchmark = estimate
    assert M.probabilistic_sharpe_ratio(r, 0.0) > 0.5 > M.probabilistic_sharpe_ratio(-r, 0.0)
    longer = np.concatenate([r, r])  # same moments, more data
    assert M.probabilistic_sharpe_ratio(longer, 0.0) > M.probabilistic_sharpe_ratio(r, 0.0)


def _sample_with_moments(n, mean, std):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(n)
    x = (x - x.mean()) / x.std(ddof=1)
    return mean + std * x


# ---- edge cases -------------------------------------------------------------------------------


def _flat_equity(n=48, value=CAPITAL):
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.Series(np.full(n, value), index=index)


def _trades(pnl, r=None):
    pnl = np.asarray(pnl, dtype=float)
    n = len(pnl)
    return pd.DataFrame(
        {
            "direction": ["long"] * n,
            "entry_bar": np.arange(n),
            "exit_bar": np.arange(n),
            "bars_held": np.zeros(n, int),
            "pnl": pnl,
            "pnl_pct": pnl / 100,
            "r_multiple": pnl / 10 if r is None else r,
            "fees": np.zeros(n),
            "gross_pnl": pnl,
        }
    )


def test_no_trades():
    empty = _trades([])
    out = M.compute_all(empty, _flat_equity(), CAPITAL, close=np.full(48, 5.0))
    assert out["trade_count"] == 0 and out["net_profit"] == 0 and out["net_return_pct"] == 0
    for key in (
        "win_rate",
        "profit_factor",
        "payoff_ratio",
        "expectancy",
        "expectancy_r",
        "average_win",
        "average_loss",
        "largest_win",
        "largest_loss",
        "average_bars_held",
        "esi",
        "pvs",
        "sqn",
        "sharpe",
        "sortino",
        "calmar",
    ):
        assert out[key] is None, key
    assert out["max_drawdown_pct"] == 0 and out["max_drawdown_duration_bars"] == 0 and out["exposure_pct"] == 0
    assert out["max_consecutive_wins"] == out["max_consecutive_losses"] == 0
    assert out["cagr_pct"] == 0 and out["buy_and_hold_return_pct"] == 0
    json.dumps(out, allow_nan=False)


def test_all_wins():
    pnl = [10.0, 20, 5, 7, 9, 11, 3, 4, 8, 12]
    out = M.compute_all(_trades(pnl), _flat_equity(), CAPITAL)
    assert out["win_rate"] == 100 and out["profit_factor"] is None and out["payoff_ratio"] is None
    assert out["max_consecutive_wins"] == 10 and out["max_consecutive_losses"] == 0
    assert out["esi"] == 100.0 and out["pvs"] > 99


def test_all_losses():
    out = M.compute_all(_trades([-1.0, -2.0]), _flat_equity(), CAPITAL)
    assert out["win_rate"] == 0 and out["profit_factor"] == 0 and out["payoff_ratio"] is None


def test_zero_variance():
    out = M.compute_all(_trades([5.0] * 12), _flat_equity(), CAPITAL)
    assert out["sqn"] is None and out["pvs"] is None and out["esi"] == 100
    assert out["sharpe"] is None and out["sortino"] is None  # flat equity: zero variance


def test_scores_need_ten_trades():
    out = M.compute_all(_trades([5.0, -1, 3, 2, -4, 6, 1, 2, 3]), _flat_equity(), CAPITAL)
    assert out["esi"] is None and out["pvs"] is None
    assert M.edge_stability_index(np.arange(10.0) - 2) == 50.0  # k = 2: folds [-2..2], [3..7]


def test_esi_uses_at_most_ten_folds():
    pnl = np.tile([1.0, 1, 1, 1, -10], 20)  # 100 trades -> 10 folds of 10
    assert M.edge_stability_index(pnl) == 0.0
    assert M.edge_stability_index(np.concatenate([np.ones(90), -np.ones(10)])) == 90.0


def test_equity_wiped_out():
    equity = _flat_equity()
    equity.iloc[-10:] = 0.0
    out = M.compute_all(_trades([-CAPITAL]), equity, CAPITAL)
    assert out["cagr_pct"] == -100 and out["max_drawdown_pct"] == 100
    assert out["sharpe"] is None and out["sortino"] is None  # -100 % then 0/0: no finite return series
    json.dumps(out, allow_nan=False)


def test_single_bar():
    out = M.compute_all(_trades([]), _flat_equity(n=1), CAPITAL)
    assert out["cagr_pct"] is None and out["trades_per_month"] is None and out["sharpe"] is None


def test_trades_without_r_use_pnl_for_sqn():
    pnl = [10.0, -5, 7, -2]
    out = M.compute_all(_trades(pnl, r=np.full(4, np.nan)), _flat_equity(), CAPITAL)
    assert out["expectancy_r"] is None
    assert out["sqn"] == pytest.approx(2 * statistics.mean(pnl) / statistics.stdev(pnl))


def test_drawdown_that_never_recovers_counts_to_the_end():
    equity = pd.Series([100.0, 110, 105, 104, 108], index=pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC"))
    assert M.drawdown_durations(equity.to_numpy(), equity.index.as_unit("ns").asi8) == (3, 3.0)
    assert M.max_drawdown_pct(equity.to_numpy()) == pytest.approx(6 / 110 * 100)


def test_psr_is_the_formula_on_its_own_moments():
    r = np.array([0.012, -0.004, 0.009, 0.015, -0.011, 0.003, 0.007, -0.002, 0.01, 0.001])
    sr = M.sharpe_per_period(r)
    skew, kurt = M.return_moments(r)
    assert sr == pytest.approx(r.mean() / r.std(ddof=1))
    assert M.psr_from_moments(sr, len(r), skew, kurt, 0.001) == M.probabilistic_sharpe_ratio(r, 0.001)
    assert M.sharpe_per_period(np.ones(5)) is None and M.return_moments(np.ones(5)) == (0.0, 3.0)
    assert M.psr_from_moments(0.1, 1, 0.0, 3.0) is None


# ---- tail and path metrics, by hand ---------------------------------------------------------------


def _daily_returns(equity):
    daily = equity.groupby(equity.index.floor("D")).last().to_numpy()
    return [daily[i] / daily[i - 1] - 1 for i in range(1, len(daily))]


def _quantile(values, q):
    """Linear interpolation between order statistics (Hyndman & Fan type 7)."""
    s = sorted(values)
    position = (len(s) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(s) - 1)
    return s[low] + (s[high] - s[low]) * (position - low)


def test_tail_metrics_by_hand(equity, result):
    r = _daily_returns(equity)
    var = _quantile(r, 0.05)
    assert result["var_95_daily_pct"] == pytest.approx(100 * var, rel=1e-12)
    assert result["cvar_95_daily_pct"] == pytest.approx(100 * statistics.mean(x for x in r if x <= var), rel=1e-12)
    assert result["omega"] == pytest.approx(sum(x for x in r if x > 0) / -sum(x for x in r if x < 0), rel=1e-12)
    assert result["tail_ratio"] == pytest.approx(abs(_quantile(r, 0.95)) / abs(_quantile(r, 0.05)), rel=1e-12)


def test_path_metrics_by_hand(trades, equity, result):
    peak, squares = -math.inf, []
    for v in equity.to_numpy():
        peak = max(peak, v)
        squares.append(((peak - v) / peak * 100) ** 2)
    assert result["ulcer_index"] == pytest.approx(math.sqrt(sum(squares) / len(squares)), rel=1e-12)
    assert result["recovery_factor"] == pytest.approx(result["net_profit"] / result["max_drawdown"], rel=1e-12)
    pnl = list(trades.pnl)
    win = sum(p > 0 for p in pnl) / len(pnl)
    payoff = statistics.mean(p for p in pnl if p > 0) / -statistics.mean(p for p in pnl if p < 0)
    assert result["kelly_pct"] == pytest.approx(100 * (win - (1 - win) / payoff), rel=1e-12)
    assert result["exposure_adjusted_return_pct"] == pytest.approx(
        result["net_return_pct"] / (result["exposure_pct"] / 100), rel=1e-12
    )


def test_monthly_metrics_on_the_golden_curve_spread_over_eight_months(trades, equity):
    """The same 240 values a day apart (2024-03-04 to 2024-10-29): months to compare."""
    daily = pd.Series(equity.to_numpy(), index=pd.date_range("2024-03-04", periods=len(equity), freq="D", tz="UTC"))
    out = M.compute_all(trades, daily, CAPITAL)
    month_end = daily.groupby(daily.index.strftime("%Y-%m")).last()
    previous = [CAPITAL] + list(month_end.to_numpy()[:-1])
    expected = [(m, (v / p - 1) * 100) for (m, v), p in zip(month_end.items(), previous)]
    assert [m for m, _ in out["monthly_returns"]] == [m for m, _ in expected] == [f"2024-{i:02d}" for i in range(3, 11)]
    assert [v for _, v in out["monthly_returns"]] == pytest.approx([v for _, v in expected], rel=1e-12)
    values = [v for _, v in expected]
    assert out["best_month_pct"] == pytest.approx(max(values)) and out["worst_month_pct"] == pytest.approx(min(values))
    assert out["monthly_win_rate"] == pytest.approx(100 * sum(v > 0 for v in values) / len(values))


def test_time_to_recover_runs_from_the_deepest_trough_back_to_its_peak():
    equity = pd.Series(
        [100.0, 110, 99, 105, 111, 108, 109.5, 112],
        index=pd.date_range("2024-01-01", periods=8, freq="D", tz="UTC"),
    )
    times = equity.index.as_unit("ns").asi8
    assert M.drawdown_recovery(equity.to_numpy(), times) == (2, 2.0)  # trough 99 on day 2, 111 >= 110 on day 4
    assert M.drawdown_recovery(np.array([1.0, 2, 3]), times[:3]) == (0, 0.0)
    assert M.drawdown_recovery(np.array([3.0, 2, 2.5]), times[:3]) == (None, None)


def test_tail_and_path_edge_cases():
    assert M.value_at_risk(np.array([0.01])) is None and M.conditional_value_at_risk(np.zeros(0)) is None
    assert M.omega_ratio(np.array([0.01, 0.02, 0.0])) is None, "no loss: infinite"
    assert M.tail_ratio(np.array([0.0, 0.0, 0.01])) is None, "a zero left tail"
    assert M.ulcer_index(np.array([1.0, 2.0, 3.0])) == 0.0 and M.ulcer_index(np.zeros(0)) == 0.0
    assert M.recovery_factor(100.0, 0.0) is None
    assert M.kelly_fraction(np.array([1.0, 2.0])) is None and M.kelly_fraction(np.zeros(0)) is None
    assert M.kelly_fraction(np.array([2.0, -1.0])) == pytest.approx(0.5 - 0.5 / 2)
    assert M.exposure_adjusted_return_pct(5.0, 0.0) is None
    assert M.conditional_value_at_risk(np.array([0.01, 0.01])) == pytest.approx(0.01), "constant: CVaR = VaR"
    out = M.compute_all(_trades([]), _flat_equity(), CAPITAL)
    assert out["var_95_daily_pct"] is None, "48 hourly bars: two days, one daily return"
    assert out["omega"] is None and out["kelly_pct"] is None
    three_days = M.compute_all(_trades([]), _flat_equity(n=72), CAPITAL)
    assert three_days["var_95_daily_pct"] == 0 and three_days["cvar_95_daily_pct"] == 0 and three_days["omega"] is None
    assert out["max_drawdown_recovery_bars"] == 0 and out["ulcer_index"] == 0
    assert out["best_month_pct"] == 0 and out["monthly_win_rate"] == 0 and out["exposure_adjusted_return_pct"] is None
