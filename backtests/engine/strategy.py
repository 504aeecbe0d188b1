"""A V4 request body → a validated, immutable :class:`StrategySpec`.

Shape checks (types, required fields) happen in the API serializer; this module checks
meaning as well as shape, because the engine is also used without the API: modules exist,
configs are in range, conditions compare like with like, exits, costs and sizing are sane.
Every problem raises :class:`StrategyError` with a code and the offending ``field``.
The request fields are documented in docs/engine.md.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from modules.errors import ModuleConfigError, ModuleNotFound
from modules.registry import get_registry

from .conditions import Block, Operand, parse_blocks, parse_value
from .errors import StrategyError

DIRECTIONS = ("Long", "Short", "Both")
DEFAULT_CAPITAL = 10_000.0
DEFAULT_RISK_PCT = 1.0
DEFAULT_ATR_PERIOD = 14
SIZING_CATEGORY = "position_sizing"
STOP_UNITS = ("percent", "atr", "points", "level")
TARGET_UNITS = ("percent", "atr", "points", "r", "level")
TRAIL_UNITS = ("percent", "atr", "points", "r")
PRICE_COST_UNITS = ("points", "percent")
SAME_BAR_POLICIES = ("stop_first", "target_first")
EXIT_KEYS = (
    "stopLoss",
    "stopLossUnit",
    "takeProfit",
    "takeProfitUnit",
    "trailingStop",
    "trailingStopUnit",
    "atrPeriod",
    "breakEvenAtR",
    "maxBarsInTrade",
    "closeAtSessionEnd",
    "sessionEnd",
    "sessionTimezone",
    "exitOnOppositeSignal",
    "sameBarPolicy",
    "maxTradesPerSession",
)
COST_KEYS = ("commissionPct", "commissionFixed", "spread", "spreadUnit", "slippage", "slippageUnit")
SIZING_KEYS = ("moduleId", "config", "pyramiding", "method", "riskPct")
MAX_PYRAMIDING = 100


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
    money; ``spread`` (full bid-ask width; half is paid on each fill) and ``slippage`` (per
    fill, against the trader), each in price points or percent of the price."""

    commission_pct: float = 0.0
    commission_fixed: float = 0.0
    spread: float = 0.0
    spread_unit: str = "points"
    slippage: float = 0.0
    slippage_unit: str = "points"

    def any(self) -> bool:
        return bool(self.commission_pct or self.commission_fixed or self.spread or self.slippage)


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
        if self.costs.any():
            c = self.costs
            parts = []
            if c.commission_pct:
                parts.append(f"{c.commission_pct:g}%")
            if c.commission_fixed:
                parts.append(f"{c.commission_fixed:g} per fill")
            if c.spread:
                parts.append(f"spread {c.spread:g}{'%' if c.spread_unit == 'percent' else ' pts'}")
            if c.slippage:
                parts.append(f"slippage {c.slippage:g}{'%' if c.slippage_unit == 'percent' else ' pts'}")
            tail.append("costs " + ", ".join(parts))
        tail.append(f"size {self.sizing.describe()}")
        return head + " · " + " · ".join(tail)


def _rules(blocks: tuple[Block, ...]) -> str:
    parts = []
    for block in blocks:
        joiner = " OR " if block.logic == "any" else " AND "
        text = joiner.join(c.describe() for c in block.conditions)
        parts.append(f"({text})" if block.logic == "any" and len(block.conditions) > 1 else text)
    return " AND ".join(parts) or "no conditions"


# ---- field checks -----------------------------------------------------------------------------


def _fail(message: str, field_name: str, **details: Any) -> StrategyError:
    return StrategyError(message, code="INVALID_REQUEST", details={"field": field_name, **details})


def _object(raw: Any, field_name: str, known: tuple[str, ...]) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _fail(f"{field_name} must be an object", field_name)
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; expected one of {list(known)}"
            raise _fail(f"{field_name}.{key} is not a known field{hint}", f"{field_name}.{key}", close_matches=close)
    return raw


def _number(raw: Any, field_name: str, low: float, high: float, *, low_open: bool = True, what: str = "") -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise _fail(f"{field_name} must be a number{what}, got {raw!r}", field_name)
    ok = (low < raw if low_open else low <= raw) and raw <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise _fail(f"{field_name} must be in {bracket}{low:g}, {high:g}]{what}, got {raw}", field_name)
    return float(raw)


def _integer(raw: Any, field_name: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw != int(raw):
        raise _fail(f"{field_name} must be an integer, got {raw!r}", field_name)
    if not low <= raw <= high:
        raise _fail(f"{field_name} must be between {low} and {high}, got {raw}", field_name)
    return int(raw)


def _boolean(raw: Any, field_name: str) -> bool:
    if not isinstance(raw, bool):
        raise _fail(f"{field_name} must be true or false, got {raw!r}", field_name)
    return raw


def _choice(raw: Any, field_name: str, options: tuple[str, ...]) -> str:
    if raw not in options:
        raise _fail(f"{field_name} must be one of {list(options)}, got {raw!r}", field_name, options=list(options))
    return raw


# Upper bounds of a level's value per unit: a percent stop beyond 50 (long) or 100 (short) is
# no stop, and the other units get generous but finite ceilings.
_UNIT_MAX = {"percent": 1000.0, "atr": 100.0, "points": 1e9, "r": 100.0}


def _level(exit_cfg: Mapping[str, Any], key: str, units: tuple[str, ...], direction: str) -> Level | None:
    raw = exit_cfg.get(key)
    unit_key = f"{key}Unit"
    unit = exit_cfg.get(unit_key)
    field_name = f"exit.{key}"
    if raw is None:
        if unit is not None:
            _choice(unit, f"exit.{unit_key}", units)
        return None
    if isinstance(raw, Mapping) and raw.get("unit") == "level":
        if key not in ("stopLoss", "takeProfit"):
            raise _fail(f"{field_name}: unit 'level' is for stopLoss and takeProfit", f"{field_name}.unit")
        _object(raw, field_name, ("value", "unit", "level"))
        if "level" not in raw:
            raise _fail(
                f"{field_name}.level is required with unit 'level': a module output such as "
                '{"module": "fair_value_gaps", "output": "bottom"} or {"column": "low"}',
                f"{field_name}.level",
            )
        source = parse_value(raw["level"], f"exit.{key}", "level")
        if not isinstance(source, Operand):
            raise _fail(f"{field_name}.level must reference a module output or a price column", f"{field_name}.level")
        buffer = (
            0.0
            if raw.get("value") is None
            else _number(raw["value"], f"{field_name}.value", 0.0, 50.0, low_open=False, what=" (buffer, percent)")
        )
        return Level(buffer, "level", source)
    if isinstance(raw, Mapping):
        _object(raw, field_name, ("value", "unit"))
        if unit is not None:
            raise _fail(
                f"give the unit either in {field_name}.unit or in exit.{unit_key}, not both", f"exit.{unit_key}"
            )
        unit, value_field, unit_field = raw.get("unit"), f"{field_name}.value", f"{field_name}.unit"
        raw = raw.get("value")
        if raw is None:
            raise _fail(f"{value_field} is required", value_field)
    else:
        value_field, unit_field = field_name, f"exit.{unit_key}"
    unit = _choice("percent" if unit is None else unit, unit_field, units)
    high = _UNIT_MAX[unit]
    if unit == "percent" and key == "stopLoss":
        high = 50.0 if direction != "Short" else 100.0
    if unit == "percent" and key == "takeProfit" and direction != "Long":
        high = 99.99  # a short's target must stay above a price of zero
    value = _number(raw, value_field, 0.0, high, what=f" ({unit})")
    return Level(value, unit)


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _exit_rules(raw: Any, direction: str) -> ExitRules:
    cfg = _object(raw, "exit", EXIT_KEYS)
    stop = _level(cfg, "stopLoss", STOP_UNITS, direction)
    target = _level(cfg, "takeProfit", TARGET_UNITS, direction)
    trailing = _level(cfg, "trailingStop", TRAIL_UNITS, direction)
    if target and target.unit == "r" and stop is None:
        raise _fail("exit.takeProfit in R needs a stopLoss (R is the stop distance)", "exit.takeProfitUnit")
    if trailing and trailing.unit == "r" and stop is None:
        raise _fail("exit.trailingStop in R needs a stopLoss (R is the stop distance)", "exit.trailingStopUnit")
    atr_period = DEFAULT_ATR_PERIOD
    if cfg.get("atrPeriod") is not None:
        atr_period = _integer(cfg["atrPeriod"], "exit.atrPeriod", 1, 500)
    break_even = None
    if cfg.get("breakEvenAtR") is not None:
        break_even = _number(cfg["breakEvenAtR"], "exit.breakEvenAtR", 0.0, 100.0, what=" (R multiples)")
        if stop is None:
            raise _fail("exit.breakEvenAtR needs a stopLoss (R is the stop distance)", "exit.breakEvenAtR")
    max_bars = None
    if cfg.get("maxBarsInTrade") is not None:
        max_bars = _integer(cfg["maxBarsInTrade"], "exit.maxBarsInTrade", 1, 10_000_000)
    close_session = _boolean(cfg.get("closeAtSessionEnd", False), "exit.closeAtSessionEnd")
    session_end = cfg.get("sessionEnd", "00:00")
    if not isinstance(session_end, str) or not _HHMM.match(session_end):
        raise _fail(f"exit.sessionEnd must be a time HH:MM (24 h), got {session_end!r}", "exit.sessionEnd")
    tz = cfg.get("sessionTimezone", "UTC")
    try:
        if not isinstance(tz, str):
            raise ValueError
        ZoneInfo(tz)
    except (ValueError, ZoneInfoNotFoundError):
        raise _fail(
            f"exit.sessionTimezone must be an IANA time zone such as 'UTC' or 'America/New_York', got {tz!r}",
            "exit.sessionTimezone",
        ) from None
    opposite = _boolean(cfg.get("exitOnOppositeSignal", False), "exit.exitOnOppositeSignal")
    if opposite and direction != "Both":
        raise _fail(
            "exit.exitOnOppositeSignal needs marketContext.direction 'Both' (the opposite signal is "
            "the other side's entry); to close on a condition use exitBlocks",
            "exit.exitOnOppositeSignal",
        )
    policy = _choice(cfg.get("sameBarPolicy", "stop_first"), "exit.sameBarPolicy", SAME_BAR_POLICIES)
    per_session = None
    if cfg.get("maxTradesPerSession") is not None:
        per_session = _integer(cfg["maxTradesPerSession"], "exit.maxTradesPerSession", 1, 1000)
    return ExitRules(
        stop,
        target,
        trailing,
        atr_period,
        break_even,
        max_bars,
        close_session,
        session_end,
        tz,
        opposite,
        policy,
        per_session,
    )


def _costs(raw: Any) -> Costs:
    cfg = _object(raw, "costs", COST_KEYS)

    def amount(key: str, high: float) -> float:
        return 0.0 if cfg.get(key) is None else _number(cfg[key], f"costs.{key}", 0.0, high, low_open=False)

    spread_unit = _choice(cfg.get("spreadUnit", "points"), "costs.spreadUnit", PRICE_COST_UNITS)
    slippage_unit = _choice(cfg.get("slippageUnit", "points"), "costs.slippageUnit", PRICE_COST_UNITS)
    return Costs(
        commission_pct=amount("commissionPct", 10.0),
        commission_fixed=amount("commissionFixed", 1e9),
        spread=amount("spread", 10.0 if spread_unit == "percent" else 1e9),
        spread_unit=spread_unit,
        slippage=amount("slippage", 10.0 if slippage_unit == "percent" else 1e9),
        slippage_unit=slippage_unit,
    )


def _sizing(raw: Any) -> Sizing:
    cfg = _object(raw, "sizing", SIZING_KEYS)
    pyramiding = (
        1 if cfg.get("pyramiding") is None else _integer(cfg["pyramiding"], "sizing.pyramiding", 1, MAX_PYRAMIDING)
    )
    legacy = "method" in cfg or "riskPct" in cfg
    if legacy and ("moduleId" in cfg or "config" in cfg):
        raise _fail("sizing takes either moduleId + config or the older method + riskPct, not both", "sizing.method")
    if legacy:
        method = _choice(cfg.get("method", "fixed_fraction"), "sizing.method", ("fixed_fraction", "all_in"))
        if method == "all_in":
            if "riskPct" in cfg:
                raise _fail("sizing.riskPct applies to method 'fixed_fraction' only", "sizing.riskPct")
            return Sizing("percent_of_equity", {"percent": 100.0}, pyramiding)
        risk = _number(cfg.get("riskPct", DEFAULT_RISK_PCT), "sizing.riskPct", 0.0, 100.0, what=" (percent)")
        return Sizing("fixed_fraction", {"risk_pct": risk}, pyramiding)
    module_id = cfg.get("moduleId", "fixed_fraction")
    registry = get_registry()
    available = [cls.module_id for cls in registry.get_modules_by_category(SIZING_CATEGORY)]
    if not isinstance(module_id, str) or module_id not in available:
        close = difflib.get_close_matches(str(module_id), available, n=3, cutoff=0.5)
        raise StrategyError(
            f"sizing.moduleId must be a position_sizing module, one of {available}, got "
            f"{module_id!r}" + (f"; did you mean {', '.join(close)}?" if close else ""),
            code="MODULE_NOT_FOUND",
            details={"field": "sizing.moduleId", "close_matches": close, "available": available},
        )
    config = cfg.get("config") or {}
    if not isinstance(config, Mapping):
        raise _fail("sizing.config must be an object", "sizing.config")
    cls = registry.get_module(module_id)
    try:
        full = cls.validate_config(config)
    except (ModuleConfigError, ModuleNotFound) as exc:
        param = getattr(exc, "field", "")
        raise StrategyError(
            f"sizing: {exc}",
            code="INVALID_CONFIG",
            details={
                "field": f"sizing.config.{param}",
                "module_id": module_id,
                "param": param,
                "schema": cls.get_config_schema()["fields"],
            },
        ) from None
    return Sizing(module_id, full, pyramiding)


def _blocks(request: Mapping[str, Any], key: str, *, required: bool) -> tuple[Block, ...]:
    raw = request.get(key)
    if raw is None:
        if required:
            raise _fail(f"{key} must select at least one condition", key)
        return ()
    blocks = parse_blocks(raw, key)
    if required and not blocks:
        raise _fail(f"{key} must select at least one condition", key)
    return blocks


def build_strategy(request: Mapping[str, Any]) -> StrategySpec:
    """Validate a request body and return its :class:`StrategySpec` (raises StrategyError)."""
    if not isinstance(request, Mapping):
        raise _fail("the request must be an object", "")
    context = request.get("marketContext") or {}
    if not isinstance(context, Mapping):
        raise _fail("marketContext must be an object", "marketContext")
    direction = context.get("direction", "Long")
    if direction not in DIRECTIONS:
        raise _fail(
            f"marketContext.direction must be one of {list(DIRECTIONS)}, got {direction!r}", "marketContext.direction"
        )
    entry = _blocks(request, "decisionBlocks", required=True)
    if direction == "Both":
        if not request.get("shortDecisionBlocks"):
            raise _fail(
                "direction 'Both' takes long entries from decisionBlocks and short entries from "
                "shortDecisionBlocks, which is missing or empty",
                "shortDecisionBlocks",
            )
        short_entry = _blocks(request, "shortDecisionBlocks", required=True)
    else:
        for key in ("shortDecisionBlocks", "shortExitBlocks"):
            if request.get(key):
                raise _fail(
                    f"{key} is used only with marketContext.direction 'Both' (got {direction!r}); "
                    f"decisionBlocks and exitBlocks hold the {direction.lower()} rules",
                    key,
                )
        short_entry = ()
    exit_blocks = _blocks(request, "exitBlocks", required=False)
    short_exit_blocks = _blocks(request, "shortExitBlocks", required=False) if direction == "Both" else ()
    exit_rules = _exit_rules(request.get("exit"), direction)
    costs = _costs(request.get("costs"))
    sizing = _sizing(request.get("sizing"))
    capital = request.get("initialCapital", DEFAULT_CAPITAL)
    if isinstance(capital, bool) or not isinstance(capital, (int, float)) or not 0 < capital <= 1e12:
        raise _fail("initialCapital must be a positive number (at most 1e12)", "initialCapital")
    return StrategySpec(
        direction=direction,
        entry_blocks=entry,
        exit=exit_rules,
        sizing=sizing,
        initial_capital=float(capital),
        short_entry_blocks=short_entry,
        exit_blocks=exit_blocks,
        short_exit_blocks=short_exit_blocks,
        costs=costs,
    )
