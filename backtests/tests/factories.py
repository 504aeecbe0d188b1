"""Request bodies for tests: a valid V4 body and ways to break it."""

from __future__ import annotations

import copy

VALID_V4 = {
    "marketContext": {
        "market": "XAUUSD",
        "timeframe": "1h",
        "direction": "Long",
        "startDate": "2024-01-01T00:00:00Z",
        "endDate": "2024-07-01T00:00:00Z",
        "dataSource": "synthetic",
    },
    "decisionBlocks": [
        {
            "label": "Momentum",
            "subConfirmations": [
                {
                    "label": "RSI",
                    "moduleId": "rsi",
                    "selected": True,
                    "config": {"period": 14, "operator": "<", "value": 35},
                }
            ],
        }
    ],
    "exit": {"stopLoss": 1.0, "takeProfit": 2.0},
    "quickTest": False,
}


def v4_body(**changes) -> dict:
    """A deep copy of VALID_V4; keyword ``path__to__key=value`` sets nested keys."""
    body = copy.deepcopy(VALID_V4)
    for dotted, value in changes.items():
        keys = dotted.split("__")
        target = body
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[keys[-1]] = value
    return body
