"""Higher-timeframe filter: any other module, computed on a higher timeframe (HTF) resampled
from the run's own bars, aligned back to the run's bars using only completed HTF bars.

Use case: "4h market structure is bullish" on 15-minute data is one condition,
``htf_filter(module=market_structure_shift, timeframe=4h).bias == "bullish"``.

Steps, for data of base timeframe ``b`` (``base_timeframe``, or inferred as the median bar
spacing) and HTF ``H`` (``timeframe``, a multiple of ``b``; smaller is rejected):

1. Resample the run's OHLCV to ``H`` (:func:`modules.common.resample.resample_ohlcv`:
   open first, high max, low min, close last, volume sum; UTC-aligned periods; periods without
   bars are skipped).
2. Compute ``module`` with ``module_config`` on the HTF bars; take its output
   ``module_output`` (``primary`` = the module's primary output).
3. Align: bars are labelled by their open time, so HTF bar ``[T, T + H)`` is complete only at
   ``T + H``, the close of the base bar that opens at ``T + H - b``. Base bar ``t`` gets the
   value of the last HTF bar with ``T + H <= t + b`` (its close time at or before bar
   ``t``'s close); before the first completed HTF bar, NaN / "neutral". The still-forming HTF
   bar is never used, so no value depends on a later base bar.

Outputs:

* ``bias`` (primary): ``bullish`` / ``bearish`` / ``neutral``. With ``bias_from = auto``: a
  categorical output's label mapped by direction (bullish/bearish, above/below, up/down,
  rising/falling, uptrend/downtrend, above_cloud/below_cloud, buy/sell, buying/selling; any
  other label is neutral); a numeric output compared with the base bar's close (``close`` above
  the HTF value = bullish, for price-unit outputs such as moving averages); boolean outputs are
  neutral. ``state`` forces the label mapping, ``close_vs_value`` the close comparison,
  ``slope`` compares the HTF value with the previous HTF bar's (rising = bullish; for
  oscillators).
* ``value``: the HTF output as a number: numeric outputs as is, boolean 1 / 0, categorical
  +1 / -1 / 0 by the direction mapping above.
* ``new_bar``: True on the base bar at whose close a new HTF bar completed (the first bar
  using it).
* ``htf_open``: open time of the HTF bar in use, Unix seconds (UTC).

Columns are named ``htf_filter_<timeframe>_<inner column>``, e.g.
``htf_filter_4h_market_structure_shift_5_5`` (plus ``_<bias_from>`` / ``_base<tf>`` when those
are not ``auto``), so differently configured filters never share a column.

Note: the inferred base timeframe is the median spacing of the whole input; on regular data it
is the same on any prefix of it. Bars closer together than the base timeframe are rejected
(``ModuleDataError``): a bar's close is taken as its open + the base timeframe, which must not
pass the next bar's open. Gaps (nights, weekends, missing bars) are fine.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modules.base import BaseModule, Output, Param, freeze_json, labels_from_codes
from modules.common.resample import (
    completed_index,
    datetime_index,
    infer_timeframe_seconds,
    open_times_ns,
    resample_ohlcv,
)
from modules.common.series import compare
from modules.common.timeframes import TIMEFRAME_SECONDS, timeframe_label
from modules.errors import ModuleConfigError, ModuleDataError

#: categories whose modules cannot be wrapped: this one (no nesting) and position sizing.
EXCLUDED_CATEGORIES = ("mtf", "position_sizing")
HTF_TIMEFRAMES = ("5m", "15m", "30m", "1h", "4h", "1d")
BIAS = ("bullish", "bearish", "neutral")
BIAS_RULES = ("auto", "state", "close_vs_value", "slope")
#: label -> direction (+1 bullish, -1 bearish) for categorical outputs; others are 0.
DIRECTION = {
    "bullish": 1,
    "bearish": -1,
    "above": 1,
    "below": -1,
    "up": 1,
    "down": -1,
    "rising": 1,
    "falling": -1,
    "uptrend": 1,
    "downtrend": -1,
    "above_cloud": 1,
    "below_cloud": -1,
    "buy": 1,
    "sell": -1,
    "buying": 1,
    "selling": -1,
}
_PACKAGE = Path(__file__).resolve().parents[1]
_NOT_CATEGORIES = {"tests", "common", "__pycache__"}


def _eligible_classes() -> dict[str, type[BaseModule]]:
    """Modules that can be wrapped, found the way the registry finds them (file = module id),
    imported directly so that this file's static spec does not depend on registry order."""
    found: dict[str, type[BaseModule]] = {}
    for category_dir in sorted(p for p in _PACKAGE.iterdir() if p.is_dir()):
        category = category_dir.name
        if (
            category in _NOT_CATEGORIES
            or category in EXCLUDED_CATEGORIES
            or not (category_dir / "__init__.py").exists()
        ):
            continue
        for info in pkgutil.iter_modules([str(category_dir)]):
            if info.name.startswith("_"):
                continue
            py_module = importlib.import_module(f"modules.{category}.{info.name}")
            for _, obj in inspect.getmembers(py_module, inspect.isclass):
                if (
                    issubclass(obj, BaseModule)
                    and obj.__module__ == py_module.__name__
                    and not inspect.isabstract(obj)
                    and obj.module_id == info.name
                ):
                    found[info.name] = obj
    return dict(sorted(found.items()))


_ELIGIBLE = _eligible_classes()
MODULE_OPTIONS = tuple(_ELIGIBLE)
OUTPUT_OPTIONS = ("primary",) + tuple(sorted({o.name for cls in _ELIGIBLE.values() for o in cls.outputs}))


class HTFFilter(BaseModule):
    module_id = "htf_filter"
    name = "Higher-Timeframe Filter"
    category = "mtf"
    description = (
        "Any module computed on a higher timeframe resampled from the run's bars, "
        "using only completed higher-timeframe bars (no look-ahead)."
    )
    requires = ("open", "high", "low", "close")
    params = (
        Param(
            "module",
            "select",
            "market_structure_shift",
            title="Module",
            key=True,
            options=MODULE_OPTIONS,
            help="The module to compute on the higher timeframe (any module except mtf and position sizing).",
        ),
        Param(
            "timeframe",
            "select",
            "4h",
            title="Higher Timeframe",
            key=True,
            options=HTF_TIMEFRAMES,
            help="Bars to resample to; must be a multiple of the data's timeframe.",
        ),
        Param(
            "module_config",
            "json",
            {},
            title="Module Settings",
            schema_of="module",
            help="The chosen module's parameters as a JSON object, validated against its "
            "schema (GET /api/v1/modules/<module>/schema); omitted ones take defaults.",
        ),
        Param(
            "module_output",
            "select",
            "primary",
            title="Module Output",
            options=OUTPUT_OPTIONS,
            help="Which output of the chosen module to use; 'primary' = its primary output.",
        ),
        Param(
            "bias_from",
            "select",
            "auto",
            title="Bias From",
            options=BIAS_RULES,
            help="auto: a categorical output's direction (bullish/bearish, above/below, ...), "
            "or close versus a numeric output; state / close_vs_value force one of "
            "those; slope: the HTF value rising / falling.",
        ),
        Param(
            "base_timeframe",
            "select",
            "auto",
            title="Data Timeframe",
            options=("auto", "1m") + HTF_TIMEFRAMES,
            help="The timeframe of the run's bars; auto = the median bar spacing.",
        ),
    )
    outputs = (
        Output("bias", "categorical", "direction of the HTF output (see bias_from)", values=BIAS, primary=True),
        Output(
            "value",
            "numeric",
            "the HTF output as a number (categorical: +1 bullish, "
            "-1 bearish, 0 other; boolean: 1 / 0), NaN before the first "
            "completed HTF bar",
        ),
        Output("new_bar", "boolean", "a new HTF bar completed at this bar's close"),
        Output("htf_open", "numeric", "open time of the HTF bar in use, Unix seconds (UTC)"),
    )

    # ---- config ------------------------------------------------------------------------------
    @classmethod
    def inner(cls, config: Mapping[str, Any]) -> type[BaseModule]:
        from modules.registry import get_registry  # lazily: the registry imports this file

        registry = get_registry()
        module_id = config["module"]
        if not registry.has_module(module_id) or registry.get_module(module_id).category in EXCLUDED_CATEGORIES:
            raise ModuleConfigError(cls.module_id, "module", f"{module_id!r} cannot be wrapped")
        return registry.get_module(module_id)

    @classmethod
    def validate_config(cls, config: Mapping[str, Any] | None) -> dict[str, Any]:
        """The base checks, then ``module_config`` validated by the chosen module (and
        replaced by its full config, defaults filled in), ``module_output`` checked against
        its outputs, and ``bias_from`` against the output's kind."""
        full = super().validate_config(config)
        inner = cls.inner(full)
        try:
            inner_config = inner.validate_config(full["module_config"])
        except ModuleConfigError as exc:
            raise ModuleConfigError(
                cls.module_id, "module_config", f"{exc.module_id}.{exc.field}: {exc.message}"
            ) from None
        full["module_config"] = freeze_json(inner_config)
        output = cls.inner_output(full)
        rule = full["bias_from"]
        if rule in ("close_vs_value", "slope") and output.kind != "numeric":
            raise ModuleConfigError(
                cls.module_id,
                "bias_from",
                f"{rule} needs a numeric output; {inner.module_id}.{output.name} is {output.kind}",
            )
        if rule == "state" and output.kind != "categorical":
            raise ModuleConfigError(
                cls.module_id,
                "bias_from",
                f"state needs a categorical output; {inner.module_id}.{output.name} is {output.kind}",
            )
        base = full["base_timeframe"]
        if base != "auto" and TIMEFRAME_SECONDS[full["timeframe"]] < TIMEFRAME_SECONDS[base]:
            raise ModuleConfigError(
                cls.module_id, "timeframe", f"{full['timeframe']} is below the data timeframe {base}"
            )
        return full

    @classmethod
    def inner_output(cls, config: Mapping[str, Any]) -> Output:
        inner = cls.inner(config)
        name = config["module_output"]
        if name == "primary":
            return inner.primary_output()
        output = inner.output(name)
        if output is None:
            raise ModuleConfigError(
                cls.module_id,
                "module_output",
                f"{inner.module_id} has no output {name!r}; expected one of "
                f"{['primary'] + [o.name for o in inner.outputs]}",
            )
        return output

    @classmethod
    def column_prefix(cls, config: Mapping[str, Any]) -> str:
        inner = cls.inner(config)
        output = cls.inner_output(config)
        parts = [cls.module_id, config["timeframe"], inner.column_name(config["module_config"], output.name)]
        if config["bias_from"] != "auto":
            parts.append(config["bias_from"])
        if config["base_timeframe"] != "auto":
            parts.append(f"base{config['base_timeframe']}")
        return "_".join(parts)

    # ---- computation -------------------------------------------------------------------------
    def compute(self, data: pd.DataFrame, config: dict[str, Any]) -> dict[str, Any]:
        n = len(data)
        htf_seconds = TIMEFRAME_SECONDS[config["timeframe"]]
        if n == 0:
            return {
                "bias": labels_from_codes(np.zeros(0, np.int8), BIAS),
                "value": np.zeros(0),
                "new_bar": np.zeros(0, bool),
                "htf_open": np.zeros(0),
            }
        base_ns = open_times_ns(data)
        if config["base_timeframe"] == "auto":
            if n < 2:
                raise ModuleDataError("htf_filter: cannot infer the data's timeframe from one bar; set base_timeframe")
            base_seconds = infer_timeframe_seconds(data)
            how = "inferred from the median bar spacing"
        else:
            base_seconds = TIMEFRAME_SECONDS[config["base_timeframe"]]
            how = "base_timeframe"
        if htf_seconds < base_seconds:
            raise ModuleDataError(
                f"htf_filter: timeframe {config['timeframe']} is smaller than the data's timeframe "
                f"{timeframe_label(base_seconds)} ({how}); choose {timeframe_label(base_seconds)} "
                f"or higher"
            )
        if htf_seconds % base_seconds:
            raise ModuleDataError(
                f"htf_filter: timeframe {config['timeframe']} is not a whole multiple of the "
                f"data's timeframe {timeframe_label(base_seconds)} ({how})"
            )
        if n > 1:
            # A bar's close is taken as its open + the base timeframe; that is only safe when
            # no bar opens before the previous one has closed (else an HTF bar could be used
            # at a bar whose successor, in the same HTF period, has not happened yet).
            closest = int(np.diff(base_ns).min()) // 1_000_000_000
            if closest < base_seconds:
                raise ModuleDataError(
                    f"htf_filter: bars {closest} s apart in data of timeframe "
                    f"{timeframe_label(base_seconds)} ({how}); irregular bars cannot be aligned "
                    f"without look-ahead"
                )

        htf = resample_ohlcv(data, htf_seconds)
        inner = self.inner(config)
        output = self.inner_output(config)
        inner_config = config["module_config"]
        raw = inner().calculate_arrays(htf, inner_config, outputs=(output.name,))[
            inner.column_name(inner_config, output.name)
        ]
        htf_ns = datetime_index(htf).as_unit("ns").asi8
        index = completed_index(base_ns, base_seconds, htf_ns, htf_seconds)
        missing = index < 0

        # per HTF bar: a number and a bias code (0 bullish, 1 bearish, 2 neutral)
        if output.kind == "categorical":
            direction = np.array([DIRECTION.get(v, 0) for v in output.values or ()], dtype=np.float64)
            htf_value = direction[raw.codes]
        elif output.kind == "boolean":
            htf_value = np.asarray(raw, dtype=np.float64)
        else:
            htf_value = np.asarray(raw, dtype=np.float64)
        value = _take(htf_value, index, missing, np.nan)

        rule = config["bias_from"]
        if rule == "auto":
            rule = {"categorical": "state", "numeric": "close_vs_value"}.get(output.kind, "none")
        if rule == "state":
            codes = _take(np.where(htf_value > 0, 0, np.where(htf_value < 0, 1, 2)).astype(np.int8), index, missing, 2)
            bias = labels_from_codes(codes, BIAS)
        elif rule == "close_vs_value":
            bias = compare(data["close"].to_numpy(dtype=np.float64), value, BIAS)
        elif rule == "slope":
            previous = np.concatenate(([np.nan], htf_value[:-1]))
            htf_codes = np.asarray(compare(htf_value, previous, BIAS).codes)
            bias = labels_from_codes(_take(htf_codes, index, missing, 2), BIAS)
        else:
            bias = labels_from_codes(np.full(n, 2, dtype=np.int8), BIAS)

        previous_index = np.concatenate(([-1], index[:-1]))
        new_bar = (index != previous_index) & ~missing
        htf_open = _take(htf_ns.astype(np.float64) / 1e9, index, missing, np.nan)
        return {"bias": bias, "value": value, "new_bar": new_bar, "htf_open": htf_open}


def _take(values: np.ndarray, index: np.ndarray, missing: np.ndarray, fill) -> np.ndarray:
    """``values[index]``, ``fill`` where ``missing`` (``index`` is -1 there)."""
    extended = np.concatenate((values, np.array([fill], dtype=values.dtype)))
    return extended[index]  # -1 picks the fill
