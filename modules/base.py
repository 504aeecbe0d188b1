"""The module contract: a module is declared by its spec and computes NumPy arrays.

A module file lives at ``modules/<category>/<module_id>.py`` and defines one subclass of
:class:`BaseModule`. The spec (``params`` and ``outputs``) drives validation, the API
schema, the docs and the condition checks, so a module only writes ``compute``.

Data contract: ``data`` is a DataFrame indexed by a timezone-aware UTC ``DatetimeIndex``
with float columns ``open high low close volume``. ``compute`` returns one array per
declared output, each as long as ``data``, NaN (or the categorical ``neutral`` value)
during warm-up, and depending only on rows up to its own (no look-ahead).

Output representation (what :meth:`BaseModule.calculate_arrays` returns, and the dtypes of
:meth:`BaseModule.calculate`'s DataFrame):

* ``numeric``: ``float64`` ndarray, NaN where undefined.
* ``boolean``: ``bool`` ndarray.
* ``categorical``: a :class:`pandas.Categorical` whose categories are exactly the output's
  declared ``values`` in declared order (object dtype) and whose ``codes`` are ``int8``.
  ``arr == "bullish"`` / ``arr != "bullish"`` (and ``np.equal(arr, "bullish")``) return a plain
  ``bool`` ndarray by comparing codes, so a condition costs microseconds; ``arr[i]`` is the
  ``str`` label; ``np.asarray(arr)`` gives an object ndarray of ``str`` (about 3 ms per million
  bars) for callers that need one, or pass ``objects=True`` to ``calculate_arrays``.
  Building it is free (the codes are wrapped, not copied), whereas an object or ``str``
  array costs 4-80 ms per million bars, more than a whole TA-Lib indicator.

``compute`` may return a categorical output as such a Categorical (build it with
:func:`categorical` or :func:`labels_from_codes`, in any category order: it is remapped to the
declared order) or, slower, as an array of label strings.

Derived outputs on demand: for an output derived from the others (a label such as "close above
the average", a ratio such as %B), ``compute`` may return a zero-argument callable instead of
the array; it is called only when that output is asked for. ``calculate_arrays(...,
outputs=names)`` computes and returns only the named outputs (the engine asks for the ones its
conditions read); by default, and in :meth:`BaseModule.calculate`, every output is computed.
Such a pass reads and writes whole arrays at memory speed, about as long as the TA-Lib call it
derives from, so a strategy comparing only a moving average no longer pays for its labels.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .errors import ModuleConfigError, ModuleDataError

PARAM_TYPES = ("number", "integer", "boolean", "select", "json")
OUTPUT_KINDS = ("numeric", "categorical", "boolean")
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Param:
    """One configurable parameter.

    ``type`` is ``number`` (float), ``integer``, ``boolean``, ``select`` (one of ``options``)
    or ``json`` (a JSON object, e.g. another module's config; see below).
    ``min``/``max`` are inclusive bounds; values outside them are rejected, never clamped.
    ``key`` marks the parameters that name the output columns (``rsi_14``).

    ``json`` params: the value must be a JSON object (string keys; values null, booleans,
    numbers, strings, lists or objects); it is returned as a :class:`FrozenJSON` (an immutable,
    hashable ``dict``) so a validated config stays hashable. ``schema_of`` names the ``select``
    param whose chosen value is a module id: the object is that module's config, rendered by
    a UI from ``GET /api/v1/modules/<id>/schema``; the owning module validates it with that
    module's ``validate_config`` (see ``modules/mtf/htf_filter.py``), naming this param in
    errors, and stores the full inner config (defaults filled in).
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
    schema_of: str | None = None

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"param {self.name}: type must be one of {PARAM_TYPES}")
        if self.type == "select" and not self.options:
            raise ValueError(f"param {self.name}: select needs options")
        if self.type == "json" and not isinstance(self.default, Mapping):
            raise ValueError(f"param {self.name}: json needs an object default")
        if self.schema_of is not None and self.type != "json":
            raise ValueError(f"param {self.name}: schema_of is for json params")

    def to_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "title": self.title or self.name.replace("_", " ").title(),
        }
        for attr in ("min", "max", "step"):
            value = getattr(self, attr)
            if value is not None:
                out[attr] = value
        if self.options:
            out["options"] = list(self.options)
        if self.help:
            out["help"] = self.help
        if self.schema_of:
            out["schema_of"] = self.schema_of
        return out

    def coerce(self, module_id: str, value: Any) -> Any:
        """Return ``value`` checked against this param; raise ModuleConfigError otherwise."""
        if self.type == "json":
            if not isinstance(value, Mapping):
                raise ModuleConfigError(module_id, self.name, f"must be a JSON object, got {value!r}")
            try:
                return freeze_json(value)
            except (TypeError, ValueError) as exc:
                raise ModuleConfigError(module_id, self.name, str(exc)) from None
        if self.type == "boolean":
            if isinstance(value, bool):
                return value
            raise ModuleConfigError(module_id, self.name, f"must be true or false, got {value!r}")
        if self.type == "select":
            if isinstance(value, str) and value in (self.options or ()):
                return value
            raise ModuleConfigError(module_id, self.name, f"must be one of {list(self.options or ())}, got {value!r}")
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
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "primary": self.primary,
            "description": self.description,
        }
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
        return {"fields": [p.to_schema() for p in cls.params], "outputs": [o.to_schema() for o in cls.outputs]}

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"module_id": cls.module_id, "name": cls.name, "category": cls.category, "description": cls.description}

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
                raise ModuleConfigError(cls.module_id, key, f"unknown parameter; expected one of {sorted(known)}")
        full = {}
        for name, param in known.items():
            full[name] = param.coerce(cls.module_id, config.get(name, param.default))
        cls.check_config(full)
        return full

    @classmethod  # noqa: B027 - an optional hook that modules override when they need it, not an abstract method
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
    def compute(self, data: pd.DataFrame, config: dict[str, Any]) -> dict[str, Any]:
        """Return ``{output name: array}`` for a validated config. Must not mutate ``data``.

        Numeric outputs are float arrays, boolean outputs bool arrays, categorical outputs a
        :class:`pandas.Categorical` (see :func:`categorical`) or an array of label strings;
        any of them may be a zero-argument callable returning it, called only if that output
        is asked for.
        """

    def calculate_arrays(
        self,
        data: pd.DataFrame,
        config: Mapping[str, Any] | None = None,
        *,
        objects: bool = False,
        outputs: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Validate ``config``, compute, and return ``{column name: array}`` (no DataFrame).

        Column names are those of :meth:`calculate` (``rsi_14``, ``rsi_14_zone``). Numeric
        outputs are ``float64`` ndarrays, boolean outputs ``bool`` ndarrays, categorical outputs
        :class:`pandas.Categorical` with the declared values as categories (``arr == "bullish"``
        is a ``bool`` ndarray); ``objects=True`` turns those into object ndarrays of ``str``
        instead (about 3 ms per million bars each). Arrays never share memory with ``data``.
        ``outputs``: the output names wanted (default: all); only those are returned, and
        derived outputs nobody asked for are not computed (see the module docstring).
        """
        full = self.validate_config(config)
        return self._arrays(data, full, objects, self._wanted(outputs))

    @classmethod
    def _wanted(cls, names: Iterable[str] | None) -> tuple[Output, ...]:
        """The declared outputs named in ``names`` (declared order), all of them for ``None``."""
        if names is None:
            return cls.outputs
        names = set(names)
        unknown = sorted(names - {out.name for out in cls.outputs})
        if unknown:
            raise ModuleConfigError(
                cls.module_id, "outputs", f"unknown outputs {unknown}; expected some of {[o.name for o in cls.outputs]}"
            )
        return tuple(out for out in cls.outputs if out.name in names)

    def calculate(self, data: pd.DataFrame, config: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Validate ``config``, compute, and return the new columns as a DataFrame on ``data.index``.

        Categorical outputs are ``category`` columns (declared values, declared order).
        """
        full = self.validate_config(config)
        return pd.DataFrame(self._arrays(data, full, False, self.outputs), index=data.index, copy=False)

    def _arrays(
        self, data: pd.DataFrame, full: dict[str, Any], objects: bool, wanted: tuple[Output, ...]
    ) -> dict[str, Any]:
        missing = [c for c in self.requires if c not in data.columns]
        if missing:
            raise ModuleDataError(f"{self.module_id} needs columns {missing}")
        arrays = self.compute(data, full)
        n = len(data)
        inputs = None
        columns: dict[str, Any] = {}
        for out in wanted:
            try:
                raw = arrays[out.name]
            except KeyError:
                raise ModuleDataError(f"{self.module_id}: compute returned no {out.name!r} output") from None
            if callable(raw):  # a derived output, computed now that it is asked for
                raw = raw()
            values: pd.Categorical | np.ndarray
            if out.kind == "categorical":
                values = _as_categorical(self.module_id, out, raw, n)
                if objects:
                    values = np.asarray(values)
            else:
                array = np.asarray(raw)
                if array.shape != (n,):
                    raise ModuleDataError(f"{self.module_id}.{out.name}: expected {n} values, got {array.shape}")
                if array.base is not None:  # a view: make sure it is not one of data's columns
                    if inputs is None:
                        inputs = [data[c].to_numpy() for c in data.columns]
                    if any(np.may_share_memory(array, col) for col in inputs):
                        array = array.copy()
                values = array
            columns[self.column_name(full, out.name)] = values
        return columns


def _format_key(value: Any) -> str:
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return f"{value:g}".replace(".", "p").replace("-", "m")
    return str(value)


def as_float(data: pd.DataFrame, column: str) -> np.ndarray:
    """A column as a contiguous float64 array (what TA-Lib wants), read-only when it is a view
    of ``data``'s own memory (as ``to_numpy`` gives under copy-on-write)."""
    values = _column_values(data, column)
    if values is None:
        return np.ascontiguousarray(data[column].to_numpy(dtype=np.float64))
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.base is not None:  # data's block: never written through
        values = values.view()
        values.flags.writeable = False
    return values


def _column_values(data: pd.DataFrame, column: str) -> np.ndarray | None:
    """The column's NumPy values straight from the DataFrame's block manager (about 3 us, where
    ``data[column]`` builds a Series in 30-50 us: a module's whole fixed cost on small work such
    as TA-Lib's MOM); None where that is not a plain ndarray column (the public path then)."""
    try:
        loc = data.columns.get_loc(column)
        if not isinstance(loc, int):  # a duplicated column name
            return None
        values = data._mgr.iget_values(loc)
    except (AttributeError, TypeError):  # pandas internals moved: the public path
        return None
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "fiub":
        return values
    return None


# ---- categorical outputs ------------------------------------------------------------------


@functools.cache
def category_dtype(values: tuple[str, ...]) -> pd.CategoricalDtype:
    """The (cached) dtype of a categorical output: ``values`` as object-dtype categories.

    Object (not ``str``) categories keep ``np.asarray(categorical)`` at ~3 ms per million rows
    instead of ~45 ms under pandas 3.
    """
    return pd.CategoricalDtype(pd.Index(list(values), dtype=object), ordered=False)


def _code_dtype(n_values: int) -> type[np.signedinteger[Any]]:
    return np.int8 if n_values < 127 else np.int16


def labels_from_codes(codes: np.ndarray, values: Iterable[str]) -> pd.Categorical:
    """A categorical output from integer ``codes`` indexing ``values`` (no copy if int8)."""
    values = tuple(values)
    codes = np.asarray(codes)
    dtype = _code_dtype(len(values))
    if codes.dtype != dtype:
        codes = codes.astype(dtype)
    if len(codes) and (codes.min() < 0 or codes.max() >= len(values)):
        raise ValueError(f"codes must lie in 0..{len(values) - 1}")
    return pd.Categorical.from_codes(codes, dtype=category_dtype(values), validate=False)


def categorical(
    mask_values: list[tuple[np.ndarray, str]], length: int, default: str, values: Iterable[str] | None = None
) -> pd.Categorical:
    """Labels from boolean masks: the first matching mask wins, else ``default``.

    Returns a :class:`pandas.Categorical` (int8 codes; ``== "label"`` gives a bool ndarray,
    ``np.asarray`` an object array of labels). Its categories are ``values`` if given
    (pass the output's declared values to skip a remap), else the labels in mask order
    followed by ``default`` (the usual order of declared values). Built with integer
    arithmetic on the masks: about 0.1 ms per mask per million rows.
    """
    if values is None:
        names = list(dict.fromkeys([label for _, label in mask_values] + [default]))
    else:
        names = list(values)
    index = {name: code for code, name in enumerate(names)}
    dtype = _code_dtype(len(names))
    codes = np.full(length, index[default], dtype=dtype)
    for mask, label in reversed(mask_values):
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            mask = mask.astype(np.bool_)
        if mask.shape != (length,):
            mask = np.broadcast_to(mask, (length,))
        codes *= ~mask  # zero where the mask holds ...
        code = index[label]
        if code:  # ... then add the label's code there
            codes += mask.view(np.int8).astype(dtype, copy=False) * dtype(code)
    return pd.Categorical.from_codes(codes, dtype=category_dtype(tuple(names)), validate=False)


def _as_categorical(module_id: str, out: Output, raw: Any, n: int) -> pd.Categorical:
    """``raw`` (Categorical or label strings) as a Categorical over ``out.values``."""
    declared = out.values or ()
    if isinstance(raw, pd.Categorical):
        if len(raw) != n:
            raise ModuleDataError(f"{module_id}.{out.name}: expected {n} values, got {len(raw)}")
        categories = tuple(raw.categories)
        codes = raw.codes
        if n and codes.min() < 0:
            raise ModuleDataError(
                f"{module_id}.{out.name}: missing labels (NaN); use a declared value such as the warm-up label"
            )
        if categories == declared and raw.categories.dtype == object and not raw.ordered:
            return raw
        unknown = [c for c in categories if c not in declared]
        if unknown:
            raise ModuleDataError(
                f"{module_id}.{out.name}: labels {unknown} are not among the declared values {list(declared)}"
            )
        if categories != declared:
            lut = np.array([declared.index(c) for c in categories], dtype=_code_dtype(len(declared)))
            codes = lut.take(codes.astype(np.intp))
        return pd.Categorical.from_codes(codes, dtype=category_dtype(declared), validate=False)
    values = np.asarray(raw)
    if values.shape != (n,):
        raise ModuleDataError(f"{module_id}.{out.name}: expected {n} values, got {values.shape}")
    # label strings (the slow path): factorise, then remap to the declared order
    return _as_categorical(module_id, out, pd.Categorical(values.astype(object)), n)


# ---- json params --------------------------------------------------------------------------


class FrozenJSON(dict):
    """An immutable, hashable JSON object (a ``dict``: ``json.dumps`` and ``==`` work as usual)."""

    __slots__ = ("_hash",)
    _hash: int

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash = hash(tuple(sorted(self.items())))
            return self._hash

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("FrozenJSON is read-only; copy it with dict(...)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore
    __ior__ = _readonly  # type: ignore

    def __reduce__(self):
        return (FrozenJSON, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenJSON({dict.__repr__(self)})"


def freeze_json(value: Any) -> Any:
    """``value`` with objects as :class:`FrozenJSON` and lists as tuples; raise on non-JSON."""
    if isinstance(value, Mapping):
        items = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings, got {key!r}")
            items[key] = freeze_json(item)
        return FrozenJSON(items)
    if isinstance(value, (list, tuple)):
        return tuple(freeze_json(v) for v in value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
        return value
    raise TypeError(f"not a JSON value: {value!r}")


def thaw_json(value: Any) -> Any:
    """The plain ``dict`` / ``list`` form of a frozen JSON value (for ``json.dumps`` or edits)."""
    if isinstance(value, Mapping):
        return {k: thaw_json(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw_json(v) for v in value]
    return value
