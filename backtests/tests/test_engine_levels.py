"""Exits at price levels read from the data (stops beyond a swing or zone, targets at
liquidity) and the per-session trade cap: the engine features the V5 ICT strategy uses."""

import numpy as np
import pytest

from backtests.engine import Signals, StrategyError, simulate_signals
from backtests.strategies.parse import build_strategy

from .test_engine_semantics import bars, flat, mask

ENTRY = [{"subConfirmations": [{"moduleId": "rsi", "config": {"operator": "<", "value": 30}}]}]


def spec(exit_, direction="Long"):
    return build_strategy(
        {
            "marketContext": {"direction": direction},
            "decisionBlocks": ENTRY,
            "exit": exit_,
            "sizing": {"method": "all_in"},
        }
    )


def long_at(n, *bars_on):
    none = np.zeros(n, bool)
    return Signals(mask(n, bars_on), none, none, none)


def test_stop_beyond_the_signal_bars_low_and_target_at_its_high_plus_buffer():
    rows = flat(3) + [(100, 103, 97, 100)] + [(100, 100.5, 99.5, 100)] + [(100, 101, 96.5, 97)] + flat(2)
    data = bars(rows)
    strategy = spec(
        {
            "stopLoss": {"unit": "level", "value": 1.0, "level": {"column": "low"}},
            "takeProfit": {"unit": "level", "level": {"column": "high"}},
        }
    )
    trades = simulate_signals(data, strategy, long_at(len(rows), 3)).trades
    assert len(trades) == 1
    trade = trades.iloc[0]
    # signal on bar 3 (low 97): stop = 97 × (1 − 1 %) = 96.03, target = 103, entered at bar 4's open
    assert trade.entry_bar == 4 and trade.initial_stop == pytest.approx(96.03)
    assert trade.initial_target == pytest.approx(103.0)
    assert trade.exit_reason == "end_of_data"  # bar 5's low 96.5 stays above 96.03
    assert trade.risk == pytest.approx(trade["size"] * (100 - 96.03)) and trade.exit_price == 100.0


def test_level_stop_is_hit_at_the_level():
    rows = flat(3) + [(100, 101, 98, 100)] + [(100, 100.5, 99.5, 100)] + [(99, 99.5, 97, 97.5)] + flat(2, 97.5)
    trades = simulate_signals(
        bars(rows), spec({"stopLoss": {"unit": "level", "level": {"column": "low"}}}), long_at(len(rows), 3)
    ).trades
    assert list(trades.exit_reason) == ["stop"] and trades.exit_price.iloc[0] == pytest.approx(98.0)


def test_a_level_on_the_wrong_side_of_the_fill_skips_the_entry():
    rows = flat(3) + [(100, 101, 99, 100)] + [(95, 95.5, 94.5, 95)] + flat(3, 95)
    result = simulate_signals(
        bars(rows), spec({"stopLoss": {"unit": "level", "level": {"column": "low"}}}), long_at(len(rows), 3)
    )
    assert len(result.trades) == 0 and result.metrics["skipped_entries"] == 1


def test_module_output_levels_are_validated():
    with pytest.raises(StrategyError) as err:
        spec({"stopLoss": {"unit": "level", "level": {"module": "fair_value_gaps", "output": "nope"}}})
    assert "nope" in err.value.message
    with pytest.raises(StrategyError) as err:
        spec({"stopLoss": {"unit": "level"}})
    assert err.value.details["field"] == "exit.stopLoss.level"
    ok = spec({"stopLoss": {"unit": "level", "value": 0.1, "level": {"module": "fair_value_gaps", "output": "bottom"}}})
    assert "Fair" in ok.describe() or "fair" in ok.describe().lower()


def test_max_trades_per_session_caps_entries_per_day():
    n = 72  # three days of hourly bars
    rows = flat(n)
    every_bar = long_at(n, *range(n))
    capped = simulate_signals(bars(rows), spec({"maxBarsInTrade": 1, "maxTradesPerSession": 2}), every_bar)
    per_day = capped.trades.groupby(capped.trades.entry_time.dt.date).size()
    assert list(per_day) == [2, 2, 2]
    free = simulate_signals(bars(rows), spec({"maxBarsInTrade": 1}), every_bar)
    assert len(free.trades) > 20


def test_same_module_with_different_non_key_params_keeps_separate_columns():
    """rsi_14_zone at overbought 60 and at overbought 80 are different series."""
    import talib

    from backtests.engine import run_backtest
    from modules.tests.conftest import load_sample

    data = load_sample()
    zone = {"moduleId": "rsi", "config": {"output": "zone", "operator": "==", "value": "overbought"}}
    strategy = build_strategy(
        {
            "decisionBlocks": [
                {
                    "subConfirmations": [
                        {**zone, "config": {**zone["config"], "overbought": 60}},
                        {**zone, "config": {**zone["config"], "overbought": 80, "operator": "!="}},
                    ]
                }
            ],
            "exit": {"maxBarsInTrade": 1},
            "sizing": {"method": "all_in"},
        }
    )
    trades = run_backtest(data, strategy).trades
    rsi = talib.RSI(data["close"].to_numpy(), 14)
    band = np.flatnonzero((rsi >= 60) & (rsi < 80))
    assert len(trades) > 0
    assert set(trades.entry_bar - 1) <= set(band)


def test_a_module_that_cannot_run_on_the_data_is_a_clear_engine_error():
    from backtests.engine import EngineError, run_backtest
    from modules.tests.conftest import load_sample

    strategy = build_strategy(
        {
            "decisionBlocks": [
                {
                    "subConfirmations": [
                        {
                            "moduleId": "htf_filter",
                            "config": {"module": "ema", "timeframe": "5m", "operator": "==", "value": "bullish"},
                        }
                    ]
                }
            ]
        }
    )
    with pytest.raises(EngineError) as err:
        run_backtest(load_sample(), strategy)  # hourly data cannot feed a 5-minute filter
    assert err.value.code == "MODULE_DATA_ERROR" and "5m" in err.value.message


def test_warm_up_bars_warm_indicators_but_are_neither_traded_nor_measured():
    from backtests.engine import run_backtest
    from modules.tests.conftest import load_sample

    data = load_sample()
    strategy = build_strategy(
        {
            "decisionBlocks": [
                {
                    "subConfirmations": [
                        {
                            "moduleId": "ema",
                            "config": {"period": 50, "operator": "crosses_below", "value": {"column": "close"}},
                        }
                    ]
                }
            ],
            "exit": {"stopLoss": 1.0, "takeProfit": 2.0},
        }
    )
    trade_from = data.index[900]
    warm = run_backtest(data.iloc[300:], strategy, trade_from=trade_from)  # 600 bars of warm-up
    history = run_backtest(data, strategy, trade_from=trade_from)  # all history before it
    cold = run_backtest(data.iloc[900:], strategy)  # no warm-up at all
    assert len(warm.trades) > 3
    assert (warm.trades.entry_time > trade_from).all()
    assert warm.equity.index[0] == trade_from and warm.bars == len(data) - 900
    # Warmed up, the window trades as if the whole history had been there.
    cols = ["entry_time", "exit_time", "entry_price", "exit_price", "exit_reason"]
    pd_equal = warm.trades[cols].reset_index(drop=True).equals(history.trades[cols].reset_index(drop=True))
    assert pd_equal
    assert warm.metrics["net_return_pct"] == pytest.approx(history.metrics["net_return_pct"])
    # A cold start cannot see the EMA for its first 49 bars.
    assert cold.trades.entry_time.min() >= data.index[900 + 50]
