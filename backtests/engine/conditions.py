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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modules.base import PRICE_COLUMNS, BaseModule
from modules.errors import ModuleDataError
from modules.registry import get_registry

from .errors import EngineError

OPERATORS = ("==", "!=", ">", ">=", "<", "<=", "crosses_above", "crosses_below", "between")


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
        return self.module_class().column_name(self.config, self.output)

    def module_class(self) -> type[BaseModule]:
        """The module a module operand reads. An operand names a price column or a module: one that
        names neither was built wrong by the caller (the parser never builds one)."""
        if self.module_id is None:
            raise TypeError(f"{self!r} names neither a price column nor a module")
        return get_registry().get_module(self.module_id)

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
        cls = self.module_class()
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


# ---- evaluation -----------------------------------------------------------------------------


def config_key(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)


def compute_operands(
    data: pd.DataFrame,
    blocks: tuple[Block, ...],
    on_module: Callable[[int, int], None] | None = None,
    cache: dict | None = None,
) -> dict[str, np.ndarray]:
    """Compute every distinct module output the blocks reference, once each (a module's outputs
    that no condition reads are not computed, see ``modules.base``).

    ``cache``: a dict the caller keeps for several strategies on this same ``data`` (the runs of
    a sweep): each module configuration's outputs are computed once, kept read-only (a condition
    that wrote into one would raise instead of changing the next run's signals) and reused, so
    runs that differ only in thresholds or exits share their modules."""
    wanted: dict[tuple, tuple[Operand, set[str]]] = {}
    for block in blocks:
        for condition in block.conditions:
            for operand in condition.operands():
                if operand.module_id:
                    key = (operand.module_id, tuple(sorted(operand.config.items())))
                    outputs = wanted.setdefault(key, (operand, set()))[1]
                    outputs.add(operand.output or operand.module_class().primary_output().name)
    columns: dict[str, np.ndarray] = {c: data[c].to_numpy(dtype=np.float64) for c in PRICE_COLUMNS if c in data.columns}
    for i, (operand, outputs) in enumerate(wanted.values()):
        module = operand.module_class()()
        suffix = "#" + config_key(operand.config)
        cache_key = (operand.module_id, suffix, frozenset(outputs))
        arrays = cache.get(cache_key) if cache is not None else None
        if arrays is None:
            try:
                # numeric: float64 ndarrays; categorical: pandas.Categorical, compared by code
                arrays = module.calculate_arrays(data, operand.config, outputs=outputs)
            except ModuleDataError as exc:
                raise EngineError(
                    f"{module.name} cannot be computed on this data: {exc}",
                    code="MODULE_DATA_ERROR",
                    details={"module_id": operand.module_id},
                ) from None
            if cache is not None:
                for values in arrays.values():
                    if isinstance(values, np.ndarray):
                        values.flags.writeable = False
                cache[cache_key] = arrays
        columns.update({name + suffix: values for name, values in arrays.items()})
        if on_module:
            on_module(i + 1, len(wanted))
    return columns


def evaluate(blocks: tuple[Block, ...], columns: Mapping[str, np.ndarray], length: int) -> np.ndarray:
    """The entry signal per bar: AND over blocks of each block's AND/OR of its conditions."""
    if not blocks:
        return np.zeros(length, dtype=bool)
    signal: np.ndarray | None = None
    for block in blocks:
        # combined in place, mask by mask (a reduce over the list would stack the masks first)
        combine = np.logical_or if block.logic == "any" else np.logical_and
        masks = [evaluate_condition(c, columns) for c in block.conditions]
        # no condition: all (AND's identity) or none (OR's), as a reduce over nothing gives
        combined = np.array(masks[0], dtype=bool) if masks else np.full(length, block.logic != "any")
        for mask in masks[1:]:
            combine(combined, mask, out=combined)
        if signal is None:
            signal = combined
        else:
            signal &= combined
    assert signal is not None
    return signal


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
