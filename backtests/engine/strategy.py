"""A V4 request body → a validated, immutable :class:`StrategySpec`.

Shape checks (types, required fields) happen in the API serializer; this module checks
meaning: modules exist, configs are in range, conditions compare like with like, exits are
sane. It raises :class:`StrategyError` with a code and the offending field.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .conditions import Block, parse_blocks
from .errors import StrategyError

DIRECTIONS = ("Long", "Short")
DEFAULT_CAPITAL = 10_000.0
DEFAULT_RISK_PCT = 1.0


@dataclass(frozen=True)
class ExitRules:
    stop_loss_pct: float | None
    take_profit_pct: float | None


@dataclass(frozen=True)
class Sizing:
    """``fixed_fraction``: risk ``risk_pct`` % of equity per trade from the stop distance
    (full equity when there is no stop); ``all_in``: the whole equity at the entry price."""

    method: str = "fixed_fraction"
    risk_pct: float = DEFAULT_RISK_PCT


@dataclass(frozen=True)
class StrategySpec:
    direction: str
    entry_blocks: tuple[Block, ...]
    exit: ExitRules
    sizing: Sizing
    initial_capital: float

    def describe(self) -> str:
        """The strategy as readable text: ``RSI(14) < 30 AND close > EMA(200) · stop 1% · target 2%``."""
        parts = []
        for block in self.entry_blocks:
            joiner = " OR " if block.logic == "any" else " AND "
            text = joiner.join(c.describe() for c in block.conditions)
            parts.append(f"({text})" if block.logic == "any" and len(block.conditions) > 1 else text)
        rules = " AND ".join(parts) or "no conditions"
        tail = []
        if self.exit.stop_loss_pct is not None:
            tail.append(f"stop {self.exit.stop_loss_pct:g}%")
        if self.exit.take_profit_pct is not None:
            tail.append(f"target {self.exit.take_profit_pct:g}%")
        return f"{self.direction}: {rules}" + (" · " + " · ".join(tail) if tail else "")


def _positive_pct(exit_cfg: Mapping[str, Any], key: str, upper: float) -> float | None:
    raw = exit_cfg.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise StrategyError(f"exit.{key} must be a number (percent of the entry price)",
                            code="INVALID_REQUEST", details={"field": f"exit.{key}"})
    if not 0 < raw <= upper:
        raise StrategyError(f"exit.{key} must be in (0, {upper:g}] percent, got {raw}",
                            code="INVALID_REQUEST", details={"field": f"exit.{key}"})
    return float(raw)


def build_strategy(request: Mapping[str, Any]) -> StrategySpec:
    context = request.get("marketContext") or {}
    direction = context.get("direction", "Long")
    if direction not in DIRECTIONS:
        raise StrategyError(f"marketContext.direction must be one of {list(DIRECTIONS)}, got {direction!r}",
                            code="INVALID_REQUEST", details={"field": "marketContext.direction"})
    blocks = parse_blocks(request.get("decisionBlocks", []), "decisionBlocks")
    if not blocks:
        raise StrategyError("decisionBlocks must select at least one condition",
                            code="INVALID_REQUEST", details={"field": "decisionBlocks"})
    exit_cfg = request.get("exit") or {}
    if not isinstance(exit_cfg, Mapping):
        raise StrategyError("exit must be an object", code="INVALID_REQUEST", details={"field": "exit"})
    stop = _positive_pct(exit_cfg, "stopLoss", 50 if direction == "Long" else 100)
    target = _positive_pct(exit_cfg, "takeProfit", 1000)
    sizing_cfg = request.get("sizing") or {}
    method = sizing_cfg.get("method", "fixed_fraction")
    if method not in ("fixed_fraction", "all_in"):
        raise StrategyError("sizing.method must be 'fixed_fraction' or 'all_in'", code="INVALID_REQUEST",
                            details={"field": "sizing.method"})
    risk = sizing_cfg.get("riskPct", DEFAULT_RISK_PCT)
    if isinstance(risk, bool) or not isinstance(risk, (int, float)) or not 0 < risk <= 100:
        raise StrategyError("sizing.riskPct must be a number in (0, 100]", code="INVALID_REQUEST",
                            details={"field": "sizing.riskPct"})
    capital = request.get("initialCapital", DEFAULT_CAPITAL)
    if isinstance(capital, bool) or not isinstance(capital, (int, float)) or not 0 < capital <= 1e12:
        raise StrategyError("initialCapital must be a positive number", code="INVALID_REQUEST",
                            details={"field": "initialCapital"})
    return StrategySpec(direction=direction, entry_blocks=blocks, exit=ExitRules(stop, target),
                        sizing=Sizing(method, float(risk)), initial_capital=float(capital))
