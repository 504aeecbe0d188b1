"""Saved strategies named in a request: ``{"strategy": 12, "version": 3, ...overrides}``.

A request that names a strategy of the library (``backtests.library``) by id runs one of its
versions (the latest by default) with any other key deep-merged over its body, as a template
runs with overrides. Only the owner's strategies resolve: another user's is 404 NOT_FOUND, the
same answer as a strategy that does not exist. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qm_platform.errors import CodedError

from .templates import deep_merge

LATEST = "latest"
REFERENCE_KEYS = ("strategy", "version")


@dataclass(frozen=True)
class StrategyRef:
    """The saved strategy and version a request came from."""

    strategy_id: int
    version: int
    name: str
    requested: int | str  # the version as asked: a number, or "latest"


def names_saved_strategy(raw: Any) -> bool:
    """Whether a request body names a saved strategy (an id) rather than carrying one inline."""
    return isinstance(raw, dict) and "strategy" in raw and not isinstance(raw["strategy"], dict)


def parse_reference(strategy: Any, version: Any, *, field: str = "strategy") -> tuple[int, int | str]:
    """(strategy id, version number or "latest") of a reference; 400 INVALID_REQUEST otherwise."""
    if isinstance(strategy, str) and strategy.isdigit():
        strategy = int(strategy)
    if not isinstance(strategy, int) or isinstance(strategy, bool) or strategy < 1:
        raise CodedError(
            "INVALID_REQUEST",
            f"{field} must be the id of one of your saved strategies (a positive integer)",
            details={"field": field},
        )
    if version is None or version == LATEST:
        return strategy, LATEST
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CodedError(
            "INVALID_REQUEST",
            'version must be a version number (1, 2, ...) or "latest"',
            details={"field": "version"},
        )
    return strategy, version


def strategy_version_for_user(*, user, strategy_id: int, version: int | str):
    """(Strategy, StrategyVersion) of the user's strategy; 404 NOT_FOUND for a strategy that is
    not theirs (or does not exist) and for a version it does not have."""
    from backtests.models import Strategy

    strategy = Strategy.objects.filter(owner_id=getattr(user, "pk", None), id=strategy_id).first()
    if strategy is None:
        raise CodedError("NOT_FOUND", f"No strategy with id {strategy_id}.", details={"field": "strategy"})
    number = strategy.latest_version if version == LATEST else version
    saved = strategy.versions.filter(number=number).first()
    if saved is None:
        raise CodedError(
            "NOT_FOUND",
            f"Strategy {strategy_id} has no version {version}; its latest is {strategy.latest_version}.",
            details={"field": "version", "latest_version": strategy.latest_version},
        )
    return strategy, saved


def saved_strategy_apply(raw: Any, *, user) -> tuple[Any, StrategyRef | None]:
    """The request body a request stands for, and the saved strategy it names (if any): the
    version's body with the request's other keys deep-merged over it (``marketContext`` keys
    replace the saved ones one by one, lists are replaced whole). A request without a strategy
    id is returned as it is."""
    if not names_saved_strategy(raw):
        return raw, None
    if "template" in raw:
        raise CodedError(
            "INVALID_REQUEST",
            "give either 'strategy' (a saved strategy id) or 'template', not both",
            details={"field": "template"},
        )
    strategy_id, version = parse_reference(raw["strategy"], raw.get("version"))
    strategy, saved = strategy_version_for_user(user=user, strategy_id=strategy_id, version=version)
    overrides = {k: v for k, v in raw.items() if k not in REFERENCE_KEYS}
    body = deep_merge(saved.body, overrides)
    body.setdefault("strategyName", strategy.name)
    return body, StrategyRef(strategy.id, saved.number, strategy.name, version)
