"""compute_operands: the engine computes the module outputs its conditions read, and only those."""

import numpy as np

import modules.moving_averages.ema as ema_module
from backtests.engine.conditions import compute_operands, evaluate
from backtests.strategies.parse import build_strategy
from modules.registry import get_registry
from modules.tests.conftest import load_sample


def test_only_the_outputs_conditions_read_are_computed_and_signals_are_unchanged(monkeypatch):
    # given: EMA(50) compared by its value, Bollinger by %B (primary) and by its upper band
    spec = build_strategy(
        {
            "marketContext": {"direction": "Long"},
            "decisionBlocks": [
                {
                    "subConfirmations": [
                        {"moduleId": "ema", "config": {"period": 50, "operator": "<", "value": {"column": "close"}}},
                        {"moduleId": "bollinger", "config": {"operator": "<", "value": 0.2}},
                        {
                            "moduleId": "bollinger",
                            "config": {"output": "upper", "operator": ">", "value": {"column": "close"}},
                        },
                    ]
                }
            ],
        }
    )
    data = load_sample()
    calls: list[str] = []
    real_position = ema_module.position

    def position(*args):
        calls.append("position")
        return real_position(*args)

    monkeypatch.setattr(ema_module, "position", position)

    # when
    columns = compute_operands(data, spec.all_blocks())

    # then: the EMA's position labels were never computed; the columns are those read
    assert calls == []
    modules = {name.split("#")[0] for name in columns if "#" in name}
    assert modules == {"ema_50", "bollinger_20_2", "bollinger_20_2_upper"}
    # and the signal equals the one from every output computed
    registry = get_registry()
    full = dict(columns)
    operands = [o for b in spec.all_blocks() for c in b.conditions for o in c.operands() if o.module_id]
    for operand in operands:
        cls = registry.get_module(operand.module_id)
        suffix = "#" + operand.key().split("#", 1)[1]
        full.update({k + suffix: v for k, v in cls().calculate_arrays(data, operand.config).items()})
    assert np.array_equal(evaluate(spec.all_blocks(), columns, len(data)), evaluate(spec.all_blocks(), full, len(data)))
