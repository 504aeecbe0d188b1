"""The engine's fill, exit, cost and sizing rules, one behaviour per test, on hand-made bars.

Signals are given directly (``simulate_signals``) so each test reads: given these bars and
these signals, when simulated, then these trades. Pure: no Django, no database.
"""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from backtests.engine import Signals, run_backtest, simulate_signals
from backtests.strategies.parse import build_strategy
from modules.tests.conftest import load_sample

BLOCK = [{"subConfirmations": [{"moduleId": "rsi", "config": {"operator": "<", "value": 30}}]}]
UNITS = {"moduleId": "fixed_units", "config": {"units": 10}}


def bars(rows, start="2024-01-02 00:00", freq="h"):
    """OHLC rows -> a frame on a UTC hourly index."""
    index = pd.date_range(start, periods=len(rows), freq=freq, tz="UTC", name="timestamp")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index, dtype=float)
    frame["volume"] = 1000.0
    return frame


def flat(n, price=100.0):
    return [(price, price + 0.5, price - 0.5, price)] * n


def mask(n, bars_on=()):
    out = np.zeros(n, dtype=bool)
    out[list(bars_on)] = True
    return out


def run(data, *, long=(), short=(), long_exit=(), short_exit=(), direction="Long", **body):
    request = {"marketContext": {"direction": direction}, "decisionBlocks": BLOCK, "sizing": UNITS, **body}
    if direction == "Both":
        request.setdefault("shortDecisionBlocks", BLOCK)
    if direction == "Short":
        long, short, long_exit, short_exit = (), long or short, (), long_exit or short_exit
    n = len(data)
    signals = Signals(mask(n, long), mask(n, short), mask(n, long_exit), mask(n, short_exit))
    return simulate_signals(data, build_strategy(request), signals)


# ---- fills -------------------------------------------------------------------------------------


def test_signal_on_a_close_enters_at_the_next_open_and_open_trades_close_at_the_end():
    data = bars(flat(2) + [(101, 102, 100, 101.5), (102, 103, 101, 102.5)])
    result = run(data, long=[1])
    [trade] = result.trades.itertuples()
    assert (trade.entry_bar, trade.entry_price) == (2, 101.0)
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (3, 102.5, "end_of_data")
    assert trade.pnl == pytest.approx(10 * 1.5) and trade.bars_held == 1


def test_a_signal_on_the_last_bar_is_not_filled():
    result = run(bars(flat(3)), long=[2])
    assert result.trades.empty and result.metrics["trade_count"] == 0


def test_stop_fills_at_its_level_inside_the_bar():
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (99, 99.5, 97.5, 98)])
    [trade] = run(data, long=[1], exit={"stopLoss": 2, "stopLossUnit": "points"}).trades.itertuples()
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (3, 98.0, "stop")
    assert trade.r_multiple == pytest.approx(-1.0)


def test_a_gap_through_the_stop_fills_at_the_open():
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (97, 97.5, 96, 96.5)])
    [trade] = run(data, long=[1], exit={"stopLoss": 2, "stopLossUnit": "points"}).trades.itertuples()
    assert (trade.exit_price, trade.exit_reason) == (97.0, "stop")
    assert trade.r_multiple == pytest.approx(-1.5)


def test_a_gap_through_the_target_fills_at_the_open():
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (106, 107, 105, 106)])
    [trade] = run(data, long=[1], exit={"takeProfit": 4, "takeProfitUnit": "points"}).trades.itertuples()
    assert (trade.exit_price, trade.exit_reason) == (106.0, "target")


@pytest.mark.parametrize("policy, price, reason", [("stop_first", 98.0, "stop"), ("target_first", 104.0, "target")])
def test_stop_and_target_in_one_bar_follow_the_same_bar_policy(policy, price, reason):
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (100, 105, 97, 101)])
    exit_rules = {
        "stopLoss": 2,
        "stopLossUnit": "points",
        "takeProfit": 4,
        "takeProfitUnit": "points",
        "sameBarPolicy": policy,
    }
    [trade] = run(data, long=[1], exit=exit_rules).trades.itertuples()
    assert (trade.exit_price, trade.exit_reason) == (price, reason)


def test_stop_first_is_the_default():
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (100, 105, 97, 101)])
    exit_rules = {"stopLoss": 2, "stopLossUnit": "points", "takeProfit": 4, "takeProfitUnit": "points"}
    assert run(data, long=[1], exit=exit_rules).trades.exit_reason.tolist() == ["stop"]


def test_stop_and_target_are_checked_on_the_entry_bar():
    data = bars(flat(2) + [(100, 100.5, 97, 99), (99, 99.5, 98.5, 99)])
    [trade] = run(data, long=[1], exit={"stopLoss": 1, "stopLossUnit": "percent"}).trades.itertuples()
    assert (trade.entry_bar, trade.exit_bar, trade.exit_price) == (2, 2, 99.0)


def test_short_stop_is_above_and_target_below_the_entry():
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (100, 100.8, 96, 97)])
    rules = {"stopLoss": 1, "takeProfit": 3}
    [trade] = run(data, direction="Short", long=[1], exit=rules).trades.itertuples()
    assert trade.direction == "short" and trade.initial_stop == pytest.approx(101.0)
    assert (trade.exit_price, trade.exit_reason) == (pytest.approx(97.0), "target")
    assert trade.pnl == pytest.approx(10 * 3.0) and trade.r_multiple == pytest.approx(3.0)


# ---- exit units ---------------------------------------------------------------------------------


def test_atr_units_use_the_atr_at_the_signal_bar():
    # every bar's true range is 2, so ATR(3) is 2 from bar 3 on
    rows = [(100, 101, 99, 100)] * 6 + [(100, 101, 99, 100), (100, 101, 96.5, 97)]
    exit_rules = {"stopLoss": 1.5, "stopLossUnit": "atr", "takeProfit": 2, "takeProfitUnit": "atr", "atrPeriod": 3}
    [trade] = run(bars(rows), long=[5], exit=exit_rules).trades.itertuples()
    assert trade.initial_stop == pytest.approx(97.0) and trade.initial_target == pytest.approx(104.0)
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (7, pytest.approx(97.0), "stop")


def test_an_atr_stop_during_the_atr_warm_up_skips_the_entry():
    rows = [(100, 101, 99, 100)] * 6
    result = run(bars(rows), long=[1], exit={"stopLoss": 1, "stopLossUnit": "atr", "atrPeriod": 3})
    assert result.trades.empty and result.metrics["skipped_entries"] == 1


def test_target_in_r_is_a_multiple_of_the_stop_distance():
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (100, 106.5, 99.5, 106)])
    rules = {"stopLoss": 2, "stopLossUnit": "points", "takeProfit": {"value": 3, "unit": "r"}}
    [trade] = run(data, long=[1], exit=rules).trades.itertuples()
    assert (trade.exit_price, trade.exit_reason) == (106.0, "target") and trade.r_multiple == pytest.approx(3.0)


def test_trailing_stop_follows_the_highest_high_of_earlier_bars():
    data = bars(flat(2) + [(100, 103, 99.5, 102.5), (102, 102.5, 100.5, 101), (101, 101, 100, 100)])
    [trade] = run(data, long=[1], exit={"trailingStop": 2, "trailingStopUnit": "points"}).trades.itertuples()
    # bar 2: level 98 (entry 100 - 2); bar 3: highest high 103 -> level 101, touched
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (3, 101.0, "trailing")
    assert trade.mfe == pytest.approx(10 * 3.0) and trade.mae == pytest.approx(10 * 0.5)


def test_the_tighter_of_stop_and_trailing_stop_applies():
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (100, 100.5, 97.5, 98)])
    rules = {"stopLoss": 2, "stopLossUnit": "points", "trailingStop": 5, "trailingStopUnit": "points"}
    assert run(data, long=[1], exit=rules).trades.exit_reason.tolist() == ["stop"]


def test_percent_trailing_stop():
    data = bars(flat(2) + [(100, 110, 99.5, 109), (109, 109.5, 98, 99)])
    [trade] = run(data, long=[1], exit={"trailingStop": 10}).trades.itertuples()
    assert (trade.exit_price, trade.exit_reason) == (pytest.approx(99.0), "trailing")


def test_break_even_moves_the_stop_to_the_entry_after_x_r():
    data = bars(flat(2) + [(100, 102.5, 99.5, 101.5), (101, 101.5, 99.8, 100.2)])
    rules = {"stopLoss": 2, "stopLossUnit": "points", "breakEvenAtR": 1}
    [trade] = run(data, long=[1], exit=rules).trades.itertuples()
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (3, 100.0, "stop")
    assert trade.pnl == 0 and trade.r_multiple == 0 and trade.initial_stop == 98.0


def test_max_bars_in_trade_exits_at_the_open_after_that_many_bars():
    data = bars(flat(2) + [(100 + i, 101 + i, 99 + i, 100.5 + i) for i in range(5)])
    [trade] = run(data, long=[1], exit={"maxBarsInTrade": 2}).trades.itertuples()
    assert (trade.entry_bar, trade.exit_bar, trade.exit_price, trade.exit_reason) == (2, 4, 102.0, "time")
    assert trade.bars_held == 2


def test_close_at_session_end_exits_at_the_close_of_the_sessions_last_bar():
    data = bars(flat(3) + [(100, 101, 99, 100.5), (101, 101, 99, 100)] + flat(2), start="2024-01-02 19:00")
    # 22:00 is the last bar before midnight UTC (bar 3)
    result = run(data, long=[1], exit={"closeAtSessionEnd": True})
    [trade] = result.trades.itertuples()
    assert trade.exit_time == pd.Timestamp("2024-01-02 23:00", tz="UTC")
    assert (trade.exit_price, trade.exit_reason) == (100.0, "session_end")


def test_session_end_in_a_time_zone():
    data = bars(flat(8), start="2024-07-01 18:00")
    rules = {"closeAtSessionEnd": True, "sessionEnd": "17:00", "sessionTimezone": "America/New_York"}
    [trade] = run(data, long=[0], exit=rules).trades.itertuples()
    # 17:00 New York (summer) is 21:00 UTC: the 20:00 UTC bar is the session's last
    assert trade.exit_time == pd.Timestamp("2024-07-01 20:00", tz="UTC") and trade.exit_reason == "session_end"


def test_exit_blocks_close_at_the_next_open():
    data = bars(flat(2) + [(100, 101, 99, 100), (103, 104, 102, 103), (104, 105, 103, 104)])
    [trade] = run(data, long=[1], long_exit=[2]).trades.itertuples()
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (3, 103.0, "signal")


def test_an_entry_signal_on_the_bar_of_an_exit_signal_does_not_reenter():
    data = bars(flat(6))
    result = run(data, long=[1, 2], long_exit=[2])
    assert result.trades[["entry_bar", "exit_bar"]].values.tolist() == [[2, 3]]


def test_a_signal_on_the_bar_of_a_stop_enters_at_the_next_open():
    data = bars(flat(2) + [(100, 100.5, 97, 98), (98, 99, 97.5, 98.5), (99, 99.5, 98.5, 99)])
    trades = run(data, long=[1, 2], exit={"stopLoss": 2, "stopLossUnit": "points"}).trades
    assert trades[["entry_bar", "exit_bar"]].values.tolist() == [[2, 2], [3, 4]]


def test_signals_while_a_position_is_open_are_ignored():
    trades = run(bars(flat(8)), long=[1, 2, 3], long_exit=[5]).trades
    assert trades[["entry_bar", "exit_bar"]].values.tolist() == [[2, 6]]


def test_pyramiding_adds_entries_up_to_the_limit():
    sizing = {**UNITS, "pyramiding": 2}
    trades = run(bars(flat(8)), long=[1, 2, 3], long_exit=[5], sizing=sizing).trades
    assert trades[["entry_bar", "exit_bar", "exit_reason"]].values.tolist() == [[2, 6, "signal"], [3, 6, "signal"]]


# ---- direction Both ------------------------------------------------------------------------------


def test_both_reverses_on_the_opposite_signal_when_asked():
    data = bars(flat(2) + [(100, 101, 99, 100), (102, 103, 101, 102), (104, 105, 103, 104), (103, 104, 102, 103)])
    result = run(data, direction="Both", long=[1], short=[3], exit={"exitOnOppositeSignal": True})
    rows = result.trades[["direction", "entry_bar", "exit_bar", "exit_price", "exit_reason"]].values.tolist()
    assert rows == [["long", 2, 4, 104.0, "signal"], ["short", 4, 5, 103.0, "end_of_data"]]
    assert result.metrics["long_trades"] == 1 and result.metrics["short_trades"] == 1


def test_both_ignores_the_opposite_signal_by_default():
    result = run(bars(flat(6)), direction="Both", long=[1], short=[3])
    assert result.trades.direction.tolist() == ["long"]


def test_both_takes_no_trade_on_conflicting_signals():
    assert run(bars(flat(6)), direction="Both", long=[1], short=[1]).trades.empty


def test_short_exit_blocks_close_shorts_only():
    result = run(bars(flat(8)), direction="Both", short=[1], long_exit=[2], short_exit=[4])
    assert result.trades[["direction", "exit_bar"]].values.tolist() == [["short", 5]]


# ---- costs ---------------------------------------------------------------------------------------


def test_costs_are_paid_on_both_fills_and_reported_per_trade():
    data = bars(flat(2) + [(100, 101, 99, 100), (110, 111, 109, 110), (110, 111, 109, 110)])
    costs = {"commissionPct": 0.1, "commissionFixed": 1, "spread": 0.2, "slippage": 0.1}
    result = run(data, long=[1], long_exit=[2], costs=costs)
    [trade] = result.trades.itertuples()
    assert trade.entry_price == pytest.approx(100.2) and trade.exit_price == pytest.approx(109.8)
    assert trade.gross_pnl == pytest.approx(100.0)
    assert trade.spread_cost == pytest.approx(2.0) and trade.slippage_cost == pytest.approx(2.0)
    assert trade.commission == pytest.approx(0.001 * 10 * (100.2 + 109.8) + 2)
    assert trade.fees == pytest.approx(2 + 2 + 4.1)
    assert trade.pnl == pytest.approx(100 - 8.1) == 10 * (109.8 - 100.2) - 4.1
    assert result.metrics["final_equity"] == pytest.approx(10_000 + 91.9)
    assert result.metrics["total_fees"] == pytest.approx(8.1)
    assert result.metrics["profit_before_costs"] == pytest.approx(100.0)


def test_percent_spread_and_slippage():
    data = bars(flat(2) + [(100, 101, 99, 100), (100, 101, 99, 100)])
    costs = {"spread": 0.2, "spreadUnit": "percent", "slippage": 0.05, "slippageUnit": "percent"}
    [trade] = run(data, long=[1], costs=costs).trades.itertuples()
    assert trade.entry_price == pytest.approx(100 * (1 + 0.001 + 0.0005))
    assert trade.exit_price == pytest.approx(100 * (1 - 0.001 - 0.0005))


def test_short_pays_the_spread_on_the_sell_and_the_buy_back():
    data = bars(flat(2) + [(100, 101, 99, 100), (100, 101, 99, 100)])
    [trade] = run(data, direction="Short", short=[1], costs={"spread": 1}).trades.itertuples()
    assert (trade.entry_price, trade.exit_price) == (99.5, 100.5) and trade.pnl == pytest.approx(-10.0)


# ---- sizing --------------------------------------------------------------------------------------

STOP2 = {"stopLoss": 2, "stopLossUnit": "points"}


@pytest.mark.parametrize(
    "sizing, size",
    [
        ({}, 10_000 * 0.01 / 2),  # default: 1 % risk
        ({"moduleId": "fixed_fraction", "config": {"risk_pct": 2}}, 10_000 * 0.02 / 2),
        ({"method": "fixed_fraction", "riskPct": 0.5}, 10_000 * 0.005 / 2),  # the older shape
        ({"method": "all_in"}, 100.0),
        ({"moduleId": "percent_of_equity", "config": {"percent": 50}}, 50.0),
        ({"moduleId": "fixed_units", "config": {"units": 3}}, 3.0),
        ({"moduleId": "kelly_fraction", "config": {"win_rate_pct": 55, "payoff_ratio": 1.5}}, 10_000 * 0.02 / 2),
        ({"moduleId": "kelly_fraction", "config": {"cap_pct": 20}}, 10_000 * 0.125 / 2),
    ],
)
def test_sizing_modules(sizing, size):
    result = run(bars(flat(4)), long=[1], exit=STOP2, sizing=sizing)
    assert result.trades["size"].tolist() == [pytest.approx(size)]


def test_volatility_target_sizes_from_atr():
    rows = [(100, 101, 99, 100)] * 8  # ATR = 2
    sizing = {"moduleId": "volatility_target", "config": {"risk_pct": 1, "atr_period": 3, "atr_multiple": 2}}
    result = run(bars(rows), long=[1, 5], long_exit=[6], sizing=sizing)
    assert result.metrics["skipped_entries"] == 1  # bar 1: ATR still warming up
    assert result.trades["size"].tolist() == [pytest.approx(10_000 * 0.01 / (2 * 2))]


def test_risk_sizing_without_a_stop_buys_the_whole_equity():
    result = run(bars(flat(4)), long=[1], sizing={})
    assert result.trades["size"].tolist() == [pytest.approx(100.0)]


def test_a_kelly_fraction_without_edge_skips_entries():
    sizing = {"moduleId": "kelly_fraction", "config": {"win_rate_pct": 30, "payoff_ratio": 1}}
    result = run(bars(flat(4)), long=[1], exit=STOP2, sizing=sizing)
    assert result.trades.empty and result.metrics["skipped_entries"] == 1


def test_sizing_compounds_with_equity():
    data = bars(flat(2) + [(100, 101, 99, 100), (110, 111, 109, 110), (110, 111, 109, 110), (110, 111, 109, 110)])
    trades = run(data, long=[1, 3], long_exit=[2], sizing={"method": "all_in"}).trades
    assert trades["size"].tolist() == [pytest.approx(100.0), pytest.approx(11_000 / 110)]


# ---- equity, results ---------------------------------------------------------------------------


def test_equity_is_marked_to_market_at_each_close():
    data = bars(flat(2) + [(100, 101, 99, 101), (101, 103, 100, 102), (102, 103, 101, 102)])
    result = run(data, long=[1], long_exit=[3])
    assert result.equity.tolist() == [10_000, 10_000, 10_010, 10_020, 10_020]


def test_the_same_request_on_the_same_data_gives_byte_identical_results():
    data = load_sample()
    body = {
        "marketContext": {"direction": "Both"},
        "decisionBlocks": [{"subConfirmations": [{"moduleId": "rsi", "config": {"operator": "<", "value": 35}}]}],
        "shortDecisionBlocks": [{"subConfirmations": [{"moduleId": "rsi", "config": {"operator": ">", "value": 65}}]}],
        "exit": {"stopLoss": 1, "takeProfit": 2, "trailingStop": 1.5, "exitOnOppositeSignal": True},
        "costs": {"commissionPct": 0.01, "spread": 0.3},
    }
    first, second = (run_backtest(data, build_strategy(body)) for _ in range(2))
    assert first.trades.to_csv() == second.trades.to_csv()
    assert first.equity.to_numpy().tobytes() == second.equity.to_numpy().tobytes()
    assert json.dumps(first.metrics, sort_keys=True) == json.dumps(second.metrics, sort_keys=True)
    assert first.data_checksum == second.data_checksum and len(first.data_checksum) == 64
    assert first.engine_version and first.bars == len(data)


def test_metrics_are_json_safe_and_keep_the_keys_the_api_reads():
    result = run(bars(flat(4)), long=[1])
    json.dumps(result.metrics, allow_nan=False)
    for key in (
        "trade_count",
        "win_rate",
        "profit_factor",
        "net_return_pct",
        "max_drawdown_pct",
        "expectancy_r",
        "sharpe",
        "buy_and_hold_return_pct",
        "initial_capital",
        "final_equity",
    ):
        assert key in result.metrics


def test_trade_columns_the_platform_maps_are_present():
    trades = run(bars(flat(4)), long=[1]).trades
    for column in (
        "direction",
        "entry_time",
        "entry_price",
        "exit_time",
        "exit_price",
        "size",
        "pnl",
        "pnl_pct",
        "exit_reason",
        "bars_held",
        "fees",
        "r_multiple",
        "gross_pnl",
        "mae",
        "mfe",
    ):
        assert column in trades.columns


def test_progress_reports_each_stage_and_a_raise_cancels():
    data = load_sample()
    body = {"decisionBlocks": BLOCK, "exit": {"stopLoss": 1}}
    stages = []
    run_backtest(data, build_strategy(body), on_progress=lambda stage, done, total: stages.append(stage))
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == [
        "computing_modules",
        "simulating",
        "analysing",
    ]

    class Cancelled(Exception):
        pass

    def cancel(stage, done, total):
        if stage == "simulating":
            raise Cancelled

    with pytest.raises(Cancelled):
        run_backtest(data, build_strategy(body), on_progress=cancel)


def test_the_engine_and_the_metrics_import_no_django():
    code = (
        "import sys, backtests.engine, backtests.engine.metrics, modules.registry; "
        "modules.registry.get_registry(); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'celery')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))


@pytest.mark.parametrize("operator_, value", [("==", "uptrend"), ("!=", "uptrend")])
def test_categorical_and_boolean_conditions_run_end_to_end(operator_, value):
    data = load_sample()
    trend = {"moduleId": "adx", "config": {"output": "trend", "operator": operator_, "value": value}}
    squeeze = {"moduleId": "bollinger_width", "config": {"output": "squeeze", "operator": "==", "value": False}}
    body = {"decisionBlocks": [{"subConfirmations": [trend, squeeze]}], "exit": {"maxBarsInTrade": 5}}
    result = run_backtest(data, build_strategy(body))
    from modules.registry import get_registry

    adx = get_registry().get_module("adx")().calculate(data, {})
    width = get_registry().get_module("bollinger_width")().calculate(data, {})
    trend_col = np.asarray(adx[[c for c in adx.columns if c.endswith("_trend")][0]]).astype(str)
    squeeze_col = width[[c for c in width.columns if c.endswith("_squeeze")][0]].to_numpy(dtype=bool)
    expected = ((trend_col == value) if operator_ == "==" else (trend_col != value)) & ~squeeze_col
    first_signal = int(np.flatnonzero(expected)[0])
    assert result.trades.entry_bar.iloc[0] == first_signal + 1


def test_warm_up_runs():
    from backtests.engine import warm_up

    warm_up()
