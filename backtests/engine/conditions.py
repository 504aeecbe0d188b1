"""Decision blocks → conditions → boolean signal arrays.

A decision block holds sub-confirmations; each selected one is a condition on a module's
output. A condition's ``config`` mixes module params with the comparison keys ``operator``,
``value``, ``value2`` (upper bound for ``between``) and ``output`` (which output to compare;
default the module's primary one). ``value`` may be a number, a category, ``[low, high]``
for ``between``, or a reference: ``{"column": "close"}`` or
``{"module": "ema", "config": {"period": 200}, "output": "value"}``.
All conditions of a block must hold (AND); a block with ``"logic": "any"`` ORs its own.
Blocks are ANDed together.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modules.base import PRICE_COLUMNS, BaseModule
from modules.errors import ModuleConfigError, ModuleDataError, ModuleNotFound
from modules.registry import get_registry

from .errors import EngineError, StrategyError

OPERATORS = ("==", "!=", ">", ">=", "<", "<=", "crosses_above", "crosses_below", "between")
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


@dataclass(frozen=True)
class Operand:
    """A module output (module set) or a price column (column set)."""

    column: str | None = None
    module_id: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    output: str | None = None

    def column_name(self) -> str:
        if self.column:
            return self.column
        cls = get_registry().get_module(self.module_id)
        return cls.column_name(self.config, self.output)

    def key(self) -> str:
        """Where this operand's values live in the computed columns. Column names carry only the
        key params (``rsi_14_zone``), so the full config is part of the key: two RSI zones with
        different levels never share an array."""
        if self.column:
            return self.column
        return f"{self.column_name()}#{config_key(self.config)}"

    def label(self) -> str:
        if self.column:
            return self.column
        cls = get_registry().get_module(self.module_id)
        keys = [str(self.config[p.name]) for p in cls.params if p.key]
        text = f"{cls.name}({', '.join(keys)})" if keys else cls.name
        return f"{text}.{self.output}" if self.output and self.output != cls.primary_output().name else text


@dataclass(frozen=True)
class Condition:
    left: Operand
    operator: str
    value: Any = None  # number, category string, or Operand
    value2: Any = None  # upper bound for between
    where: str = ""  # "decisionBlocks[0].subConfirmations[1]" for error messages

    def operands(self) -> list[Operand]:
        return [o for o in (self.left, self.value, self.value2) if isinstance(o, Operand)]

    def describe(self) -> str:
        def show(v):
            return v.label() if isinstance(v, Operand) else repr(v) if isinstance(v, str) else f"{v:g}"

        op = self.operator.replace("_", " ")
        if self.operator == "between":
            return f"{self.left.label()} between {show(self.value)} and {show(self.value2)}"
        return f"{self.left.label()} {op} {show(self.value)}"


@dataclass(frozen=True)
class Block:
    conditions: tuple[Condition, ...]
    logic: str = "all"
    label: str = ""


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


# ---- evaluation -----------------------------------------------------------------------------


def config_key(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)


def compute_operands(data: pd.DataFrame, blocks: tuple[Block, ...], on_module=None) -> dict[str, np.ndarray]:
    """Compute every distinct module output the blocks reference, once each."""
    registry = get_registry()
    wanted: dict[tuple, Operand] = {}
    for block in blocks:
        for condition in block.conditions:
            for operand in condition.operands():
                if operand.module_id:
                    key = (operand.module_id, tuple(sorted(operand.config.items())))
                    wanted.setdefault(key, operand)
    columns: dict[str, np.ndarray] = {c: data[c].to_numpy(dtype=np.float64) for c in PRICE_COLUMNS if c in data.columns}
    for i, operand in enumerate(wanted.values()):
        module = registry.get_module(operand.module_id)()
        suffix = "#" + config_key(operand.config)
        try:
            # numeric: float64 ndarrays; categorical: pandas.Categorical, compared by code
            arrays = module.calculate_arrays(data, operand.config)
        except ModuleDataError as exc:
            raise EngineError(
                f"{module.name} cannot be computed on this data: {exc}",
                code="MODULE_DATA_ERROR",
                details={"module_id": operand.module_id},
            ) from None
        columns.update({name + suffix: values for name, values in arrays.items()})
        if on_module:
            on_module(i + 1, len(wanted))
    return columns


def evaluate(blocks: tuple[Block, ...], columns: Mapping[str, np.ndarray], length: int) -> np.ndarray:
    """The entry signal per bar: AND over blocks of each block's AND/OR of its conditions."""
    signal = np.ones(length, dtype=bool)
    for block in blocks:
        masks = [evaluate_condition(c, columns) for c in block.conditions]
        combined = np.logical_or.reduce(masks) if block.logic == "any" else np.logical_and.reduce(masks)
        signal &= combined
    return signal if blocks else np.zeros(length, dtype=bool)


def _values(v: Any, columns: Mapping[str, np.ndarray]):
    return columns[v.key()] if isinstance(v, Operand) else v


def evaluate_condition(c: Condition, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    left = columns[c.left.key()]
    right = _values(c.value, columns)
    with np.errstate(invalid="ignore"):
        if c.operator in ("crosses_above", "crosses_below"):
            left_f = left.astype(np.float64)
            right_f = np.broadcast_to(np.asarray(right, dtype=np.float64), left_f.shape)
            prev_l = np.concatenate(([np.nan], left_f[:-1]))
            prev_r = np.concatenate(([np.nan], right_f[:-1]))
            if c.operator == "crosses_above":
                return (prev_l <= prev_r) & (left_f > right_f)
            return (prev_l >= prev_r) & (left_f < right_f)
        if c.operator == "between":
            upper = _values(c.value2, columns)
            return (left >= right) & (left <= upper)
        # Python operators, not ufuncs, so a pandas.Categorical compares by its codes
        ops = {
            "==": operator.eq,
            "!=": operator.ne,
            ">": operator.gt,
            ">=": operator.ge,
            "<": operator.lt,
            "<=": operator.le,
        }
        result = ops[c.operator](left, right)
        return np.asarray(result, dtype=bool)
