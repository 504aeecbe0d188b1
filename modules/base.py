"""The module contract: a module is declared by its spec and computes NumPy arrays.

A module file lives at ``modules/<category>/<module_id>.py`` and defines one subclass of
:class:`BaseModule`. The spec (``params`` and ``outputs``) drives validation, the API
schema, the docs and the condition checks, so a module only writes ``compute``.

Data contract: ``data`` is a DataFrame indexed by a timezone-aware UTC ``DatetimeIndex``
with float columns ``open high low close volume``. ``compute`` returns one array per
declared output, each as long as ``data``, NaN (or the categorical ``neutral`` value)
during warm-up, and depending only on rows up to its own (no look-ahead).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from .errors import ModuleConfigError, ModuleDataError

PARAM_TYPES = ("number", "integer", "boolean", "select")
OUTPUT_KINDS = ("numeric", "categorical", "boolean")
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Param:
    """One configurable parameter.

    ``type`` is ``number`` (float), ``integer``, ``boolean`` or ``select`` (one of ``options``).
    ``min``/``max`` are inclusive bounds; values outside them are rejected, never clamped.
    ``key`` marks the parameters that name the output columns (``rsi_14``).
    """

    name: str
    type: str
    default: Any
    title: str = ""
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: tuple[str, ...] | None = None
    key: bool = False

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"param {self.name}: type must be one of {PARAM_TYPES}")
        if self.type == "select" and not self.options:
            raise ValueError(f"param {self.name}: select needs options")

    def to_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default,
                               "title": self.title or self.name.replace("_", " ").title()}
        for attr in ("min", "max", "step"):
            value = getattr(self, attr)
            if value is not None:
                out[attr] = value
        if self.options:
            out["options"] = list(self.options)
        if self.help:
            out["help"] = self.help
        return out

    def coerce(self, module_id: str, value: Any) -> Any:
        """Return ``value`` checked against this param; raise ModuleConfigError otherwise."""
        if self.type == "boolean":
            if isinstance(value, bool):
                return value
            raise ModuleConfigError(module_id, self.name, f"must be true or false, got {value!r}")
        if self.type == "select":
            if isinstance(value, str) and value in (self.options or ()):
                return value
            raise ModuleConfigError(module_id, self.name,
                                    f"must be one of {list(self.options or ())}, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModuleConfigError(module_id, self.name, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ModuleConfigError(module_id, self.name, "must be a finite number")
        if self.type == "integer":
            if float(value) != int(value):
                raise ModuleConfigError(module_id, self.name, f"must be an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if self.min is not None and value < self.min:
            raise ModuleConfigError(module_id, self.name, f"must be >= {self.min}, got {value}")
        if self.max is not None and value > self.max:
            raise ModuleConfigError(module_id, self.name, f"must be <= {self.max}, got {value}")
        return value


@dataclass(frozen=True)
class Output:
    """One output column.

    ``kind`` is ``numeric``, ``boolean`` or ``categorical`` (with its allowed ``values``).
    The ``primary`` output is the one a condition compares when it names no output;
    its column is the bare prefix (``rsi_14``), others are ``<prefix>_<name>``.
    """

    name: str
    kind: str = "numeric"
    description: str = ""
    values: tuple[str, ...] | None = None
    primary: bool = False

    def __post_init__(self) -> None:
        if self.kind not in OUTPUT_KINDS:
            raise ValueError(f"output {self.name}: kind must be one of {OUTPUT_KINDS}")
        if self.kind == "categorical" and not self.values:
            raise ValueError(f"output {self.name}: categorical needs values")

    def to_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "primary": self.primary,
                               "description": self.description}
        if self.values:
            out["values"] = list(self.values)
        return out


class BaseModule(ABC):
    """Base class of every module. Stateless: config comes with each call.

    Subclasses set the class attributes and implement :meth:`compute`.
    """

    module_id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    category: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    outputs: ClassVar[tuple[Output, ...]] = ()
    #: price columns the module reads; checked before compute.
    requires: ClassVar[tuple[str, ...]] = ("open", "high", "low", "close")

    # ---- spec -----------------------------------------------------------------
    @classmethod
    def primary_output(cls) -> Output:
        for output in cls.outputs:
            if output.primary:
                return output
        return cls.outputs[0]

    @classmethod
    def output(cls, name: str) -> Output | None:
        for output in cls.outputs:
            if output.name == name:
                return output
        return None

    @classmethod
    def get_config_schema(cls) -> dict[str, Any]:
        """The seed's schema format: ``{"fields": [...]}``, plus the outputs."""
        return {"fields": [p.to_schema() for p in cls.params],
                "outputs": [o.to_schema() for o in cls.outputs]}

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"module_id": cls.module_id, "name": cls.name, "category": cls.category,
                "description": cls.description}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {p.name: p.default for p in cls.params}

    @classmethod
    def validate_config(cls, config: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return the full config (defaults filled in), or raise ModuleConfigError.

        Unknown keys and out-of-range values are rejected, never silently clamped.
        """
        config = dict(config or {})
        known = {p.name: p for p in cls.params}
        for key in config:
            if key not in known:
                raise ModuleConfigError(cls.module_id, key,
                                        f"unknown parameter; expected one of {sorted(known)}")
        full = {}
        for name, param in known.items():
            full[name] = param.coerce(cls.module_id, config.get(name, param.default))
        cls.check_config(full)
        return full

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        """Cross-field checks (e.g. fast < slow). Raise ModuleConfigError."""

    # ---- naming ---------------------------------------------------------------
    @classmethod
    def column_prefix(cls, config: Mapping[str, Any]) -> str:
        """``<module_id>_<key params>``, e.g. ``rsi_14``, ``bollinger_20_2``."""
        parts = [cls.module_id]
        for param in cls.params:
            if param.key:
                parts.append(_format_key(config[param.name]))
        return "_".join(parts)

    @classmethod
    def column_name(cls, config: Mapping[str, Any], output: str | None = None) -> str:
        out = cls.output(output) if output else cls.primary_output()
        if out is None:
            raise KeyError(output)
        prefix = cls.column_prefix(config)
        return prefix if out.primary or (output is None) else f"{prefix}_{out.name}"

    # ---- computation ----------------------------------------------------------
    @abstractmethod
    def compute(self, data: pd.DataFrame, config: dict[str, Any]) -> dict[str, np.ndarray]:
        """Return ``{output name: array}`` for a validated config. Must not mutate ``data``."""

    def calculate(self, data: pd.DataFrame, config: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Validate ``config``, compute, and return the new columns as a DataFrame on ``data.index``."""
        full = self.validate_config(config)
        missing = [c for c in self.requires if c not in data.columns]
        if missing:
            raise ModuleDataError(f"{self.module_id} needs columns {missing}")
        arrays = self.compute(data, full)
        columns = {}
        for out in self.outputs:
            values = np.asarray(arrays[out.name])
            if values.shape != (len(data),):
                raise ModuleDataError(
                    f"{self.module_id}.{out.name}: expected {len(data)} values, got {values.shape}")
            columns[self.column_name(full, out.name)] = values
        return pd.DataFrame(columns, index=data.index)


def _format_key(value: Any) -> str:
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return f"{value:g}".replace(".", "p").replace("-", "m")
    return str(value)


def as_float(data: pd.DataFrame, column: str) -> np.ndarray:
    """A column as a contiguous float64 array (what TA-Lib wants)."""
    return np.ascontiguousarray(data[column].to_numpy(dtype=np.float64))


def categorical(mask_values: list[tuple[np.ndarray, str]], length: int, default: str) -> np.ndarray:
    """Build an object array of labels: the first matching mask wins, else ``default``."""
    out = np.full(length, default, dtype=object)
    for mask, label in reversed(mask_values):
        out[mask] = label
    return out
