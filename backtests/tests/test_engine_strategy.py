"""build_strategy: every request field is checked, and an error names the field (the API's 400)."""

import pytest

from backtests.engine import StrategyError
from backtests.strategies.parse import build_strategy

RSI = {"subConfirmations": [{"moduleId": "rsi", "config": {"operator": "<", "value": 30}}]}


def body(**extra):
    return {"marketContext": {"direction": "Long"}, "decisionBlocks": [RSI], **extra}


def error_of(request) -> StrategyError:
    with pytest.raises(StrategyError) as err:
        build_strategy(request)
    return err.value


def test_defaults():
    spec = build_strategy(body())
    assert spec.direction == "Long" and spec.initial_capital == 10_000
    assert (spec.sizing.module_id, dict(spec.sizing.config), spec.sizing.pyramiding) == (
        "fixed_fraction",
        {"risk_pct": 1.0},
        1,
    )
    assert spec.exit.same_bar_policy == "stop_first" and spec.exit.stop_loss is None
    assert not spec.costs.any()


def test_a_full_request_is_accepted_and_described():
    spec = build_strategy(
        {
            "marketContext": {"direction": "Both"},
            "decisionBlocks": [RSI],
            "shortDecisionBlocks": [
                {"subConfirmations": [{"moduleId": "rsi", "config": {"operator": ">", "value": 70}}]}
            ],
            "exitBlocks": [
                {
                    "logic": "any",
                    "subConfirmations": [
                        {"moduleId": "rsi", "config": {"operator": ">", "value": 60}},
                        {
                            "moduleId": "sma",
                            "config": {"period": 5, "operator": "crosses_below", "value": {"column": "close"}},
                        },
                    ],
                }
            ],
            "exit": {
                "stopLoss": {"value": 1.5, "unit": "atr"},
                "takeProfit": 2,
                "takeProfitUnit": "r",
                "trailingStop": 3,
                "trailingStopUnit": "points",
                "atrPeriod": 20,
                "breakEvenAtR": 1,
                "maxBarsInTrade": 48,
                "closeAtSessionEnd": True,
                "sessionEnd": "21:00",
                "sessionTimezone": "Europe/London",
                "exitOnOppositeSignal": True,
                "sameBarPolicy": "target_first",
            },
            "costs": {
                "commissionPct": 0.02,
                "commissionFixed": 1,
                "spread": 0.3,
                "slippage": 0.01,
                "slippageUnit": "percent",
            },
            "sizing": {"moduleId": "volatility_target", "config": {"risk_pct": 0.5}, "pyramiding": 3},
            "initialCapital": 50_000,
        }
    )
    assert spec.exit.stop_loss.unit == "atr" and spec.exit.take_profit.unit == "r"
    assert spec.sizing.pyramiding == 3 and spec.costs.slippage_unit == "percent"
    text = spec.describe()
    assert text.startswith("Long: RSI") and "| Short:" in text and "stop 1.5 ATR" in text and "target 2R" in text


@pytest.mark.parametrize(
    "request_body, field, code",
    [
        (body(marketContext={"direction": "Sideways"}), "marketContext.direction", "INVALID_REQUEST"),
        (body(marketContext={"direction": "Both"}), "shortDecisionBlocks", "INVALID_REQUEST"),
        (body(marketContext={"direction": "Both"}, shortDecisionBlocks=[]), "shortDecisionBlocks", "INVALID_REQUEST"),
        (body(shortDecisionBlocks=[RSI]), "shortDecisionBlocks", "INVALID_REQUEST"),
        (body(shortExitBlocks=[RSI]), "shortExitBlocks", "INVALID_REQUEST"),
        (body(exitBlocks="x"), "exitBlocks", "INVALID_REQUEST"),
        (
            body(exitBlocks=[{"subConfirmations": [{"moduleId": "rsi", "config": {"operator": "<<", "value": 1}}]}]),
            "exitBlocks[0].subConfirmations[0].config.operator",
            "INVALID_CONDITION",
        ),
        (body(exit={"stoploss": 1}), "exit.stoploss", "INVALID_REQUEST"),
        (body(exit={"stopLoss": -1}), "exit.stopLoss", "INVALID_REQUEST"),
        (body(exit={"stopLoss": 60}), "exit.stopLoss", "INVALID_REQUEST"),
        (body(exit={"stopLoss": "1%"}), "exit.stopLoss", "INVALID_REQUEST"),
        (body(exit={"stopLoss": 1, "stopLossUnit": "r"}), "exit.stopLossUnit", "INVALID_REQUEST"),
        (body(exit={"stopLoss": {"value": 1, "unit": "pips"}}), "exit.stopLoss.unit", "INVALID_REQUEST"),
        (body(exit={"stopLoss": {"unit": "atr"}}), "exit.stopLoss.value", "INVALID_REQUEST"),
        (body(exit={"takeProfit": 2, "takeProfitUnit": "r"}), "exit.takeProfitUnit", "INVALID_REQUEST"),
        (body(marketContext={"direction": "Short"}, exit={"takeProfit": 100}), "exit.takeProfit", "INVALID_REQUEST"),
        (body(exit={"trailingStop": 0}), "exit.trailingStop", "INVALID_REQUEST"),
        (body(exit={"trailingStop": 1, "trailingStopUnit": "r"}), "exit.trailingStopUnit", "INVALID_REQUEST"),
        (body(exit={"breakEvenAtR": 1}), "exit.breakEvenAtR", "INVALID_REQUEST"),
        (body(exit={"maxBarsInTrade": 0}), "exit.maxBarsInTrade", "INVALID_REQUEST"),
        (body(exit={"maxBarsInTrade": 2.5}), "exit.maxBarsInTrade", "INVALID_REQUEST"),
        (body(exit={"atrPeriod": 0}), "exit.atrPeriod", "INVALID_REQUEST"),
        (body(exit={"closeAtSessionEnd": "yes"}), "exit.closeAtSessionEnd", "INVALID_REQUEST"),
        (body(exit={"sessionEnd": "25:00"}), "exit.sessionEnd", "INVALID_REQUEST"),
        (body(exit={"sessionTimezone": "Mars/Olympus"}), "exit.sessionTimezone", "INVALID_REQUEST"),
        (body(exit={"exitOnOppositeSignal": True}), "exit.exitOnOppositeSignal", "INVALID_REQUEST"),
        (body(exit={"sameBarPolicy": "random"}), "exit.sameBarPolicy", "INVALID_REQUEST"),
        (body(costs={"commissionPct": -0.1}), "costs.commissionPct", "INVALID_REQUEST"),
        (body(costs={"commission": 1}), "costs.commission", "INVALID_REQUEST"),
        (body(costs={"spreadUnit": "pips"}), "costs.spreadUnit", "INVALID_REQUEST"),
        (body(costs={"slippage": float("nan")}), "costs.slippage", "INVALID_REQUEST"),
        (body(costs=[1]), "costs", "INVALID_REQUEST"),
        (body(sizing={"moduleId": "kelly"}), "sizing.moduleId", "MODULE_NOT_FOUND"),
        (body(sizing={"moduleId": "rsi"}), "sizing.moduleId", "MODULE_NOT_FOUND"),
        (
            body(sizing={"moduleId": "fixed_fraction", "config": {"risk_pct": 0}}),
            "sizing.config.risk_pct",
            "INVALID_CONFIG",
        ),
        (body(sizing={"moduleId": "fixed_fraction", "config": {"risk": 1}}), "sizing.config.risk", "INVALID_CONFIG"),
        (body(sizing={"pyramiding": 0}), "sizing.pyramiding", "INVALID_REQUEST"),
        (body(sizing={"method": "martingale"}), "sizing.method", "INVALID_REQUEST"),
        (body(sizing={"method": "fixed_fraction", "riskPct": 0}), "sizing.riskPct", "INVALID_REQUEST"),
        (body(sizing={"method": "all_in", "moduleId": "fixed_units"}), "sizing.method", "INVALID_REQUEST"),
        (body(initialCapital=0), "initialCapital", "INVALID_REQUEST"),
    ],
)
def test_invalid_fields_are_named(request_body, field, code):
    err = error_of(request_body)
    assert (err.details["field"], err.code) == (field, code), err.message
    assert err.message


def test_an_unknown_field_suggests_the_close_name():
    err = error_of(body(exit={"stopLos": 1}))
    assert "did you mean stopLoss" in err.message and err.details["close_matches"][0] == "stopLoss"


def test_an_unknown_sizing_module_suggests_the_close_ones():
    err = error_of(body(sizing={"moduleId": "kelly"}))
    assert "kelly_fraction" in err.details["close_matches"]


def test_the_older_percent_fields_still_read():
    spec = build_strategy(body(exit={"stopLoss": 1, "takeProfit": 2}))
    assert (spec.exit.stop_loss_pct, spec.exit.take_profit_pct) == (1.0, 2.0)
