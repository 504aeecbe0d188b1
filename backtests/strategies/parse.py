"""A V4 request body → a validated, immutable :class:`~backtests.engine.strategy.StrategySpec`.

The API's body is parsed here, outside the engine: the engine takes only a ``StrategySpec``
and a frame. Shape checks (types, required fields) happen in the API serializer; this module
checks meaning as well as shape, because the parser is also used without the API (tests,
benchmarks): modules exist, configs are in range, conditions compare like with like, exits,
costs and sizing are sane. Every problem raises :class:`StrategyError` with a code and the
offending ``field``. The request fields are documented in docs/engine.md.

Pure Python (no Django): ``request_compile`` in ``compile.py`` wraps it for the platform.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backtests.engine.account import Account
from backtests.engine.conditions import OPERATORS, Block, Condition, Operand
from backtests.engine.errors import StrategyError
from backtests.engine.instrument import Instrument
from backtests.engine.strategy import (
    DEFAULT_ATR_PERIOD,
    DEFAULT_CAPITAL,
    DEFAULT_RISK_PCT,
    Costs,
    ExitRules,
    Level,
    Sizing,
    StrategySpec,
)
from modules.base import PRICE_COLUMNS, BaseModule
from modules.common.timeframes import TIMEFRAME_SECONDS
from modules.errors import ModuleConfigError, ModuleNotFound
from modules.registry import get_registry

DIRECTIONS = ("Long", "Short", "Both")
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
    "intrabar",
)
COST_KEYS = (
    "commissionPct",
    "commissionFixed",
    "commissionPerLot",
    "commissionMin",
    "spread",
    "spreadUnit",
    "slippage",
    "slippageUnit",
    "fromInstrument",
)
ACCOUNT_KEYS = ("leverage", "maintenanceMarginPct", "financing")
MAX_LEVERAGE = 1000.0
SIZING_KEYS = ("moduleId", "config", "pyramiding", "method", "riskPct")
MAX_PYRAMIDING = 100


CONDITION_KEYS = ("operator", "value", "value2", "output")
# Fallback when a sub-confirmation names no moduleId: the seed UI's labels.
LABEL_TO_MODULE = {
    "rsi": "rsi",
    "relative strength index": "rsi",
    "sma": "sma",
    "simple moving average": "sma",
    "atr": "atr",
    "average true range": "atr",
    "ema": "ema",
    "exponential moving average": "ema",
    "macd": "macd",
    "bollinger bands": "bollinger",
    "stochastic": "stochastic",
    "market structure shift": "market_structure_shift",
    "mss": "market_structure_shift",
    "fair value gap": "fair_value_gaps",
    "fvg": "fair_value_gaps",
    "order block": "order_blocks",
    "liquidity sweep": "liquidity_sweep",
    "premium/discount": "premium_discount_zones",
    "kill zone": "kill_zones",
    "killzone": "kill_zones",
}


def resolve_module_id(sub: Mapping[str, Any], where: str) -> str:
    registry = get_registry()
    module_id = sub.get("moduleId")
    if module_id:
        if not isinstance(module_id, str):
            raise StrategyError(
                f"{where}.moduleId must be a string", code="INVALID_REQUEST", details={"field": f"{where}.moduleId"}
            )
        _get_module(module_id, where)
        return module_id
    label = str(sub.get("label", "")).strip()
    candidate = LABEL_TO_MODULE.get(label.lower()) or re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    if candidate and registry.has_module(candidate):
        return candidate
    raise StrategyError(
        f"{where} names no moduleId and its label {label!r} matches no module",
        code="MODULE_NOT_FOUND",
        details={"field": f"{where}.moduleId", "label": label, "available_modules": registry.list_available_modules()},
    )


def _get_module(module_id: str, where: str) -> type[BaseModule]:
    try:
        return get_registry().get_module(module_id)
    except ModuleNotFound as exc:
        raise StrategyError(
            str(exc),
            code="MODULE_NOT_FOUND",
            details={
                "field": f"{where}.moduleId",
                "module_id": module_id,
                "close_matches": exc.close_matches,
                "available_modules": get_registry().list_available_modules(),
            },
        ) from None


def _module_operand(module_id: str, raw_config: Mapping[str, Any], output: Any, where: str) -> Operand:
    cls = _get_module(module_id, where)
    try:
        config = cls.validate_config(raw_config)
    except ModuleConfigError as exc:
        raise StrategyError(
            f"{where}: {module_id}.{exc.field} {exc.message}",
            code="INVALID_CONFIG",
            details={
                "field": f"{where}.config.{exc.field}",
                "module_id": module_id,
                "param": exc.field,
                "reason": exc.message,
                "schema": cls.get_config_schema()["fields"],
            },
        ) from None
    if output is not None and (not isinstance(output, str) or cls.output(output) is None):
        raise StrategyError(
            f"{where}: module {module_id} has no output {output!r}",
            code="INVALID_CONDITION",
            details={"field": f"{where}.config.output", "outputs": [o.name for o in cls.outputs]},
        )
    return Operand(module_id=module_id, config=config, output=output or cls.primary_output().name)


def _parse_value(raw: Any, where: str, key: str) -> Any:
    if isinstance(raw, Mapping):
        if "column" in raw:
            if raw["column"] not in PRICE_COLUMNS:
                raise StrategyError(
                    f"{where}.{key}: unknown column {raw['column']!r}",
                    code="INVALID_CONDITION",
                    details={"field": f"{where}.config.{key}", "columns": list(PRICE_COLUMNS)},
                )
            return Operand(column=raw["column"])
        if "module" in raw:
            cfg = raw.get("config") or {}
            if not isinstance(cfg, Mapping):
                raise StrategyError(
                    f"{where}.{key}.config must be an object",
                    code="INVALID_CONDITION",
                    details={"field": f"{where}.config.{key}.config"},
                )
            return _module_operand(str(raw["module"]), cfg, raw.get("output"), f"{where}.{key}")
        raise StrategyError(
            f"{where}.{key}: a reference needs 'column' or 'module'",
            code="INVALID_CONDITION",
            details={"field": f"{where}.config.{key}"},
        )
    if isinstance(raw, bool) or raw is None or isinstance(raw, (int, float, str)):
        return raw
    raise StrategyError(
        f"{where}.{key}: unsupported value {raw!r}",
        code="INVALID_CONDITION",
        details={"field": f"{where}.config.{key}"},
    )


parse_value = _parse_value  # public: exits reference levels the same way conditions do


def parse_condition(sub: Mapping[str, Any], where: str) -> Condition:
    module_id = resolve_module_id(sub, where)
    config = sub.get("config") or {}
    if not isinstance(config, Mapping):
        raise StrategyError(
            f"{where}.config must be an object", code="INVALID_REQUEST", details={"field": f"{where}.config"}
        )
    params = {k: v for k, v in config.items() if k not in CONDITION_KEYS}
    left = _module_operand(module_id, params, config.get("output"), where)
    operator = config.get("operator", "==" if _left_output(left).kind != "numeric" else None)
    if operator not in OPERATORS:
        raise StrategyError(
            f"{where}: operator must be one of {list(OPERATORS)}, got {operator!r}",
            code="INVALID_CONDITION",
            details={"field": f"{where}.config.operator", "operators": list(OPERATORS)},
        )
    if "value" not in config:
        raise StrategyError(
            f"{where}: a condition needs a value", code="INVALID_CONDITION", details={"field": f"{where}.config.value"}
        )
    value, value2 = config.get("value"), config.get("value2")
    if operator == "between" and isinstance(value, list):
        if len(value) != 2:
            raise StrategyError(
                f"{where}: between needs [low, high]",
                code="INVALID_CONDITION",
                details={"field": f"{where}.config.value"},
            )
        value, value2 = value
    value = _parse_value(value, where, "value")
    if operator == "between":
        if value2 is None:
            raise StrategyError(
                f"{where}: between needs value2 (the upper bound)",
                code="INVALID_CONDITION",
                details={"field": f"{where}.config.value2"},
            )
        value2 = _parse_value(value2, where, "value2")
    condition = Condition(left=left, operator=operator, value=value, value2=value2, where=where)
    _check_types(condition)
    return condition


def _left_output(operand: Operand):
    cls = get_registry().get_module(operand.module_id)
    return cls.output(operand.output)


def _kind(v: Any) -> str:
    if isinstance(v, Operand):
        return "numeric" if v.column else _left_output(v).kind
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "numeric"
    return "categorical"


def _check_types(c: Condition) -> None:
    out = _left_output(c.left)
    field_name = f"{c.where}.config.value"
    for v in (c.value, c.value2) if c.operator == "between" else (c.value,):
        kind = _kind(v)
        if out.kind == "numeric" and kind != "numeric":
            raise StrategyError(
                f"{c.where}: {c.left.label()} is numeric; compare it with a number or a numeric reference, not {v!r}",
                code="INVALID_CONDITION",
                details={"field": field_name},
            )
        if out.kind == "categorical":
            if c.operator not in ("==", "!="):
                raise StrategyError(
                    f"{c.where}: {c.left.label()} is categorical; use == or !=",
                    code="INVALID_CONDITION",
                    details={"field": f"{c.where}.config.operator"},
                )
            if not isinstance(v, str) or v not in out.values:
                raise StrategyError(
                    f"{c.where}: {v!r} is not a value of {c.left.label()}; expected one of {list(out.values)}",
                    code="INVALID_CONDITION",
                    details={"field": field_name, "allowed": list(out.values)},
                )
        if out.kind == "boolean" and (c.operator not in ("==", "!=") or not isinstance(v, bool)):
            raise StrategyError(
                f"{c.where}: {c.left.label()} is true/false; use == or != with true or false",
                code="INVALID_CONDITION",
                details={"field": field_name},
            )


def parse_blocks(blocks: Any, field_name: str) -> tuple[Block, ...]:
    if not isinstance(blocks, list):
        raise StrategyError(f"{field_name} must be a list", code="INVALID_REQUEST", details={"field": field_name})
    parsed = []
    for b, block in enumerate(blocks):
        where_b = f"{field_name}[{b}]"
        if not isinstance(block, Mapping):
            raise StrategyError(f"{where_b} must be an object", code="INVALID_REQUEST", details={"field": where_b})
        logic = block.get("logic", "all")
        if logic not in ("all", "any"):
            raise StrategyError(
                f"{where_b}.logic must be 'all' or 'any'", code="INVALID_REQUEST", details={"field": f"{where_b}.logic"}
            )
        subs = block.get("subConfirmations", [])
        if not isinstance(subs, list):
            raise StrategyError(
                f"{where_b}.subConfirmations must be a list",
                code="INVALID_REQUEST",
                details={"field": f"{where_b}.subConfirmations"},
            )
        conditions = []
        for s, sub in enumerate(subs):
            where = f"{where_b}.subConfirmations[{s}]"
            if not isinstance(sub, Mapping):
                raise StrategyError(f"{where} must be an object", code="INVALID_REQUEST", details={"field": where})
            if sub.get("selected", True) is False:
                continue
            conditions.append(parse_condition(sub, where))
        if conditions:
            parsed.append(Block(tuple(conditions), logic, str(block.get("label", ""))))
    return tuple(parsed)


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


def _intrabar(raw: Any, timeframe: Any) -> str | None:
    """A timeframe finer than the run's that divides it (1m for 1h), or None."""
    if raw is None:
        return None
    if raw not in TIMEFRAME_SECONDS:
        raise _fail(f"exit.intrabar must be one of {list(TIMEFRAME_SECONDS)}, got {raw!r}", "exit.intrabar")
    bar = TIMEFRAME_SECONDS.get(timeframe) if isinstance(timeframe, str) else None
    if bar is not None and not (TIMEFRAME_SECONDS[raw] < bar and bar % TIMEFRAME_SECONDS[raw] == 0):
        raise _fail(
            f"exit.intrabar must be a finer timeframe that divides the run's {timeframe} bars, got {raw!r}",
            "exit.intrabar",
        )
    return raw


def _exit_rules(raw: Any, direction: str, timeframe: Any = None) -> ExitRules:
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
        _intrabar(cfg.get("intrabar"), timeframe),
    )


def _costs(raw: Any, instrument: Instrument | None) -> Costs:
    cfg = _object(raw, "costs", COST_KEYS)
    from_instrument = _boolean(cfg.get("fromInstrument", False), "costs.fromInstrument")
    if from_instrument and instrument is None:
        raise _fail("costs.fromInstrument needs a market the instrument table can resolve", "costs.fromInstrument")

    def amount(key: str, high: float, default: float = 0.0) -> float:
        return default if cfg.get(key) is None else _number(cfg[key], f"costs.{key}", 0.0, high, low_open=False)

    spread_unit = _choice(cfg.get("spreadUnit", "points"), "costs.spreadUnit", PRICE_COST_UNITS)
    slippage_unit = _choice(cfg.get("slippageUnit", "points"), "costs.slippageUnit", PRICE_COST_UNITS)
    if from_instrument and cfg.get("spread") is not None and spread_unit != "points":
        raise _fail("costs.fromInstrument gives the spread in points; spreadUnit must be points", "costs.spreadUnit")
    # given fields win over the instrument's defaults
    default = instrument if from_instrument and instrument is not None else None
    return Costs(
        commission_pct=amount("commissionPct", 10.0, default.commission_pct if default else 0.0),
        commission_fixed=amount("commissionFixed", 1e9, default.commission_per_fill if default else 0.0),
        spread=amount("spread", 10.0 if spread_unit == "percent" else 1e9, default.spread if default else 0.0),
        spread_unit=spread_unit,
        slippage=amount("slippage", 10.0 if slippage_unit == "percent" else 1e9),
        slippage_unit=slippage_unit,
        commission_per_lot=amount("commissionPerLot", 1e9, default.commission_per_lot if default else 0.0),
        commission_min=amount("commissionMin", 1e9, default.commission_min if default else 0.0),
    )


def _account(raw: Any, instrument: Instrument | None, direction: str) -> Account:
    """The account: leverage up to the instrument's maximum (its default), a maintenance margin
    below the initial one, financing on or off."""
    cfg = _object(raw, "account", ACCOUNT_KEYS)
    ceiling = instrument.max_leverage if instrument is not None else MAX_LEVERAGE
    leverage = instrument.max_leverage if instrument is not None else None
    if cfg.get("leverage") is not None:
        leverage = _number(cfg["leverage"], "account.leverage", 0.0, MAX_LEVERAGE, what=" (times the equity)")
        if leverage > ceiling * (1 + 1e-9):
            raise _fail(
                f"account.leverage {leverage:g} is above {instrument.symbol if instrument else ''}'s maximum of "
                f"{ceiling:g}:1 (margin rate {instrument.margin_rate if instrument else 0:g})",
                "account.leverage",
                max_leverage=ceiling,
            )
    maintenance = None
    if cfg.get("maintenanceMarginPct") is not None:
        maintenance = _number(
            cfg["maintenanceMarginPct"], "account.maintenanceMarginPct", 0.0, 100.0, low_open=False, what=" (percent)"
        )
        if leverage and maintenance >= 100.0 / leverage:
            raise _fail(
                f"account.maintenanceMarginPct must be below the initial margin, 100 / leverage = {100 / leverage:g}",
                "account.maintenanceMarginPct",
            )
    financing = _boolean(cfg.get("financing", True), "account.financing")
    if instrument is not None and not instrument.shortable and direction != "Long":
        raise _fail(f"{instrument.symbol} cannot be sold short", "marketContext.direction")
    return Account(leverage=leverage, maintenance_margin_pct=maintenance, financing=financing)


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


def build_strategy(request: Mapping[str, Any], *, instrument: Instrument | None = None) -> StrategySpec:
    """Validate a request body and return its :class:`StrategySpec` (raises StrategyError).
    ``instrument``: the market's row of the instrument table (the compiler resolves it); it
    sets the grid, the default leverage and financing. Without it: no grid, no leverage cap."""
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
    exit_rules = _exit_rules(request.get("exit"), direction, context.get("timeframe"))
    costs = _costs(request.get("costs"), instrument)
    account = _account(request.get("account"), instrument, direction)
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
        instrument=instrument,
        account=account,
    )
