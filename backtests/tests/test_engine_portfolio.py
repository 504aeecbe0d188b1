"""The portfolio engine: one account over a basket (backtests/engine/portfolio.py)."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from backtests.engine.conditions import Operand
from backtests.engine.portfolio import PortfolioRules, rebalance_bars, run_portfolio
from backtests.engine.run import run_backtest
from backtests.strategies.parse import build_strategy
from marketdata.providers.synthetic import SyntheticProvider
from modules.registry import get_registry

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def datas():
    provider = SyntheticProvider()
    return {m: provider.download(m, "1h", START, END) for m in ("EURUSD", "BTCUSD", "XAUUSD", "GBPUSD")}


def _spec(**overrides):
    body = {
        "marketContext": {"market": "EURUSD", "timeframe": "1h"},
        "decisionBlocks": [
            {"subConfirmations": [{"moduleId": "rsi", "config": {"period": 14, "operator": "<", "value": 40}}]}
        ],
        "exit": {"stopLoss": 1.0, "takeProfit": 2.0, "maxBarsInTrade": 30},
        "sizing": {"moduleId": "fixed_fraction", "config": {"risk_pct": 0.5}},
        "costs": {"commissionPct": 0.01, "spread": 0.01, "spreadUnit": "percent"},
    }
    body.update(overrides)
    return build_strategy(body)


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # the fixed-percent stop and target of _spec
        {  # ATR levels (a per-bar input); sized so every position fits in the cash (no leverage)
            "exit": {"stopLoss": {"value": 2, "unit": "atr"}, "takeProfit": {"value": 3, "unit": "atr"}},
            "sizing": {"moduleId": "percent_of_equity", "config": {"percent": 50}},
        },
    ],
)
def test_one_market_portfolio_equals_the_single_market_run(datas, overrides):
    spec = _spec(**overrides)
    single = run_backtest(datas["XAUUSD"], spec)
    port = run_portfolio({"XAUUSD": datas["XAUUSD"]}, spec, PortfolioRules())
    assert len(single.trades) > 5
    pd.testing.assert_frame_equal(single.trades, port.trades.drop(columns="market"))
    pd.testing.assert_series_equal(single.equity, port.equity, check_names=False, check_index_type=False)
    extra = {"skipped_for_capital", "skipped_for_max_open"}
    # the single market's account figures (issue 13: instrument, leverage, financing) are its own
    account = {k for k in single.metrics if k not in port.metrics}
    assert account <= {
        "total_financing",
        "capped_entries",
        "skipped_below_min_size",
        "liquidations",
        "wiped_out",
        "leverage_cap",
        "price_decimals",
    }
    assert {k: v for k, v in single.metrics.items() if k not in account} == {
        k: v for k, v in port.metrics.items() if k not in extra
    }


def test_truncating_every_market_at_the_same_time_leaves_past_trades_unchanged(datas):
    spec = _spec()
    rules = PortfolioRules(max_open_positions=2, allocation="risk_parity", rebalance="daily")
    full = run_portfolio(datas, spec, rules)
    cut = pd.Timestamp("2024-02-10", tz="UTC")
    short = run_portfolio({m: d[d.index < cut] for m, d in datas.items()}, spec, rules)
    closed_before = full.trades[full.trades.exit_time < cut - pd.Timedelta(hours=1)]
    assert len(closed_before) > 10
    same = short.trades[short.trades.exit_time < cut - pd.Timedelta(hours=1)]
    pd.testing.assert_frame_equal(closed_before.reset_index(drop=True), same.reset_index(drop=True))
    before = full.equity.index < cut - pd.Timedelta(hours=1)
    np.testing.assert_array_equal(full.equity[before].to_numpy(), short.equity.to_numpy()[: before.sum()])


def test_max_open_positions_caps_the_open_entries_and_counts_the_skipped(datas):
    spec = _spec()
    free = run_portfolio(datas, spec, PortfolioRules())
    capped = run_portfolio(datas, spec, PortfolioRules(max_open_positions=1))
    held = [row[2] for row in capped.extra["portfolio"]["exposure"]]
    assert max(held) == 1 and free.extra["portfolio"]["max_open_positions"] > 1
    assert capped.metrics["skipped_for_max_open"] > 0
    # never two positions open at once: each entry comes after the previous exit
    trades = capped.trades.sort_values("entry_time")
    assert (trades.entry_time.to_numpy()[1:] >= trades.exit_time.to_numpy()[:-1]).all()


def test_capital_too_small_skips_entries(datas):
    spec = _spec(sizing={"moduleId": "percent_of_equity", "config": {"percent": 60}})
    result = run_portfolio(datas, spec, PortfolioRules(allocation="weights", weights=dict.fromkeys(datas, 0.25)))
    # a quarter budget sized at 60 %: 15 % of equity per position, never short of cash
    assert result.metrics["skipped_for_capital"] == 0
    spec = _spec(sizing={"moduleId": "percent_of_equity", "config": {"percent": 100}})
    two = {"EURUSD": 0.5, "BTCUSD": 0.5, "XAUUSD": 0.0, "GBPUSD": 0.0}  # half the equity each, at 100 %
    result = run_portfolio(datas, spec, PortfolioRules(allocation="weights", weights=two))
    assert result.metrics["skipped_for_capital"] > 0


def test_rank_by_orders_same_bar_entries(datas):
    """Two markets on one clock always signalling together, room for one: the ranking decides,
    ties go to the first market."""
    base = datas["EURUSD"]
    twin = base.copy()
    twin[["open", "high", "low", "close"]] *= 2.0  # same shape, same signals, a higher close
    spec = _spec(exit={"stopLoss": 1.0, "takeProfit": 2.0})  # (a time exit frees the room for the other)
    no_rank = run_portfolio({"A": base, "B": twin}, spec, PortfolioRules(max_open_positions=1))
    assert len(no_rank.trades) > 3 and set(no_rank.trades.market) == {"A"}
    by_close = PortfolioRules(max_open_positions=1, rank_by=Operand(column="close"))
    assert set(run_portfolio({"A": base, "B": twin}, spec, by_close).trades.market) == {"B"}
    roc = Operand(module_id="roc", config=get_registry().get_module("roc").validate_config({"period": 5}))
    tie = run_portfolio({"B": twin, "A": base}, spec, PortfolioRules(max_open_positions=1, rank_by=roc))
    assert set(tie.trades.market) == {"B"}  # equal rate of change: the order of the markets


def test_a_market_trades_only_on_its_own_bars(datas):
    spec = _spec()
    result = run_portfolio({"EURUSD": datas["EURUSD"], "BTCUSD": datas["BTCUSD"]}, spec, PortfolioRules())
    for market in ("EURUSD", "BTCUSD"):
        mine = result.trades[result.trades.market == market]
        assert mine.entry_time.isin(datas[market].index).all()
        assert mine.exit_time.isin(datas[market].index).all()
    fx_weekend = result.trades[(result.trades.market == "EURUSD") & (result.trades.entry_time.dt.day_of_week == 5)]
    assert fx_weekend.empty
    # the union clock: the equity has the crypto's weekend bars, FX valued at its last close
    assert len(result.equity) == len(datas["BTCUSD"].index.union(datas["EURUSD"].index))


def test_rebalance_keeps_the_units_traded_and_records_partial_exits(datas):
    spec = _spec(sizing={"moduleId": "percent_of_equity", "config": {"percent": 50}})
    rules = PortfolioRules(allocation="risk_parity", rebalance="daily")
    result = run_portfolio(datas, spec, rules)
    assert (result.trades.exit_reason == "rebalance").any()
    # a partial exit keeps the entry of the position it came from
    partial = result.trades[result.trades.exit_reason == "rebalance"].iloc[0]
    rest = result.trades[
        (result.trades.market == partial.market)
        & (result.trades.entry_time == partial.entry_time)
        & (result.trades.exit_reason != "rebalance")
    ]
    assert len(rest) == 1
    fixed = _spec(sizing={"moduleId": "fixed_units", "config": {"units": 1}})
    assert not (run_portfolio(datas, fixed, rules).trades.exit_reason == "rebalance").any()


def test_rebalance_bars_are_the_first_bar_of_each_day_or_week():
    index = pd.date_range("2024-01-05 22:00", periods=60, freq="h", tz="UTC")  # a Friday
    daily = rebalance_bars(index, "daily")
    weekly = rebalance_bars(index, "weekly")
    assert list(index[daily].strftime("%Y-%m-%d %H")) == ["2024-01-06 00", "2024-01-07 00", "2024-01-08 00"]
    assert list(index[weekly].strftime("%Y-%m-%d %H")) == ["2024-01-08 00"]
    assert not rebalance_bars(index, "none").any()


def test_report_holds_contribution_correlation_and_exposure(datas):
    result = run_portfolio(datas, _spec(), PortfolioRules(max_open_positions=3))
    report = result.extra["portfolio"]
    assert [c["market"] for c in report["contribution"]] == list(datas)
    assert sum(c["trades"] for c in report["contribution"]) == len(result.trades)
    assert sum(c["pnl"] for c in report["contribution"]) == pytest.approx(result.trades.pnl.sum())
    matrix = np.array(report["correlation"]["matrix"], dtype=float)
    assert matrix.shape == (4, 4) and np.allclose(np.diag(matrix), 1.0)
    assert all(0 <= row[2] <= 3 for row in report["exposure"])
    assert result.equity.iloc[-1] == pytest.approx(10_000 + result.trades.pnl.sum())
