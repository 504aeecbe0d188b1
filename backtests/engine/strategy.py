"""The strategy the engine runs: an immutable :class:`StrategySpec` (entry and exit blocks,
exit rules, costs, sizing, capital). The engine never sees the API's body: it is parsed into
this spec by ``backtests.strategies.parse`` (``build_strategy``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .account import Account
from .conditions import Block, Operand
from .instrument import Instrument

DEFAULT_CAPITAL = 10_000.0
DEFAULT_RISK_PCT = 1.0
DEFAULT_ATR_PERIOD = 14


@dataclass(frozen=True)
class Level:
    """A distance from the entry price: ``value`` in ``unit`` (percent, atr, points or r); or,
    with unit ``level``, a price read on the signal bar from ``source`` (a module output or a
    price column), the stop placed beyond it by a buffer of ``value`` percent."""

    value: float
    unit: str = "percent"
    source: Operand | None = None

    def describe(self) -> str:
        if self.unit == "level":
            buffer = f" + {self.value:g}% buffer" if self.value else ""
            return f"at {self.source.label() if self.source else '?'}{buffer}"
        suffix = {"percent": "%", "atr": " ATR", "points": " pts", "r": "R"}[self.unit]
        return f"{self.value:g}{suffix}"


@dataclass(frozen=True)
class ExitRules:
    stop_loss: Level | None = None
    take_profit: Level | None = None
    trailing_stop: Level | None = None
    atr_period: int = DEFAULT_ATR_PERIOD
    break_even_at_r: float | None = None
    max_bars_in_trade: int | None = None
    close_at_session_end: bool = False
    session_end: str = "00:00"  # HH:MM, in session_timezone
    session_timezone: str = "UTC"
    exit_on_opposite_signal: bool = False
    same_bar_policy: str = "stop_first"
    max_trades_per_session: int | None = None
    intrabar: str | None = None  # a finer timeframe whose bars settle what a bar cannot (the magnifier)

    # The original's percent-only fields, kept for callers that read them.
    @property
    def stop_loss_pct(self) -> float | None:
        return self.stop_loss.value if self.stop_loss and self.stop_loss.unit == "percent" else None

    @property
    def take_profit_pct(self) -> float | None:
        return self.take_profit.value if self.take_profit and self.take_profit.unit == "percent" else None

    def level_sources(self) -> tuple[Operand, ...]:
        return tuple(
            lv.source
            for lv in (self.stop_loss, self.take_profit)
            if lv is not None and lv.unit == "level" and lv.source is not None
        )

    def uses_atr(self) -> bool:
        return any(lv is not None and lv.unit == "atr" for lv in (self.stop_loss, self.take_profit, self.trailing_stop))


@dataclass(frozen=True)
class Costs:
    """Per fill: commission ``commission_pct`` % of the fill's value plus ``commission_fixed``
    money plus ``commission_per_lot`` money per lot (the instrument's contract size; 1 unit
    without an instrument), at least ``commission_min``; ``spread`` (full bid-ask width; half is
    paid on each fill) and ``slippage`` (per fill, against the trader), each in price points or
    percent of the price."""

    commission_pct: float = 0.0
    commission_fixed: float = 0.0
    spread: float = 0.0
    spread_unit: str = "points"
    slippage: float = 0.0
    slippage_unit: str = "points"
    commission_per_lot: float = 0.0
    commission_min: float = 0.0

    def any(self) -> bool:
        return bool(
            self.commission_pct
            or self.commission_fixed
            or self.spread
            or self.slippage
            or self.commission_per_lot
            or self.commission_min
        )


@dataclass(frozen=True)
class Sizing:
    """A position_sizing module and its validated config; ``pyramiding`` is the most entries
    open at once in one direction (1 = one position at a time)."""

    module_id: str = "fixed_fraction"
    config: Mapping[str, Any] = field(default_factory=lambda: {"risk_pct": DEFAULT_RISK_PCT})
    pyramiding: int = 1

    def describe(self) -> str:
        args = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.config.items())
        text = f"{self.module_id}({args})"
        return text + (f" · pyramiding {self.pyramiding}" if self.pyramiding > 1 else "")


@dataclass(frozen=True)
class StrategySpec:
    direction: str
    entry_blocks: tuple[Block, ...]
    exit: ExitRules
    sizing: Sizing
    initial_capital: float
    short_entry_blocks: tuple[Block, ...] = ()
    exit_blocks: tuple[Block, ...] = ()
    short_exit_blocks: tuple[Block, ...] = ()
    costs: Costs = Costs()
    instrument: Instrument | None = None
    account: Account = Account()

    def all_blocks(self) -> tuple[Block, ...]:
        return self.entry_blocks + self.short_entry_blocks + self.exit_blocks + self.short_exit_blocks

    def describe(self) -> str:
        """The strategy as readable text: ``Long: RSI(14) < 30 AND close > EMA(200) · stop 1% · target 2%``."""
        head = f"{self.direction}: {_rules(self.entry_blocks)}"
        if self.direction == "Both":
            head = f"Long: {_rules(self.entry_blocks)} | Short: {_rules(self.short_entry_blocks)}"
        tail = []
        if self.exit_blocks:
            tail.append(f"exit {'long ' if self.direction == 'Both' else ''}when {_rules(self.exit_blocks)}")
        if self.short_exit_blocks:
            tail.append(f"exit short when {_rules(self.short_exit_blocks)}")
        ex = self.exit
        if ex.stop_loss:
            tail.append(f"stop {ex.stop_loss.describe()}")
        if ex.take_profit:
            tail.append(f"target {ex.take_profit.describe()}")
        if ex.trailing_stop:
            tail.append(f"trailing {ex.trailing_stop.describe()}")
        if ex.break_even_at_r:
            tail.append(f"break-even at {ex.break_even_at_r:g}R")
        if ex.max_bars_in_trade:
            tail.append(f"max {ex.max_bars_in_trade} bars")
        if ex.max_trades_per_session:
            tail.append(f"max {ex.max_trades_per_session} trades per session")
        if ex.close_at_session_end:
            tail.append(f"flat at {ex.session_end} {ex.session_timezone}")
        if ex.exit_on_opposite_signal:
            tail.append("reverse on opposite signal")
        if ex.same_bar_policy != "stop_first":
            tail.append("target first in a bar")
        if ex.intrabar:
            tail.append(f"intrabar {ex.intrabar}")
        if self.costs.any():
            c = self.costs
            parts = []
            if c.commission_pct:
                parts.append(f"{c.commission_pct:g}%")
            if c.commission_fixed:
                parts.append(f"{c.commission_fixed:g} per fill")
            if c.commission_per_lot:
                parts.append(f"{c.commission_per_lot:g} per lot")
            if c.commission_min:
                parts.append(f"min {c.commission_min:g}")
            if c.spread:
                parts.append(f"spread {c.spread:g}{'%' if c.spread_unit == 'percent' else ' pts'}")
            if c.slippage:
                parts.append(f"slippage {c.slippage:g}{'%' if c.slippage_unit == 'percent' else ' pts'}")
            tail.append("costs " + ", ".join(parts))
        tail.append(f"size {self.sizing.describe()}")
        if self.account.describe():
            tail.append(self.account.describe())
        return head + " · " + " · ".join(tail)


def _rules(blocks: tuple[Block, ...]) -> str:
    parts = []
    for block in blocks:
        joiner = " OR " if block.logic == "any" else " AND "
        text = joiner.join(c.describe() for c in block.conditions)
        parts.append(f"({text})" if block.logic == "any" and len(block.conditions) > 1 else text)
    return " AND ".join(parts) or "no conditions"
