"""Price sources and fast label arrays shared by the indicator/trend/momentum/MA modules."""
from __future__ import annotations

import numpy as np
import pandas as pd

from modules.base import Output, Param, as_float

#: price series a moving average (or similar) can be computed on.
SOURCES = ("close", "open", "high", "low", "hl2", "hlc3", "ohlc4")
SOURCE_HELP = "Price used: a column, or hl2 = (H+L)/2, hlc3 = (H+L+C)/3, ohlc4 = (O+H+L+C)/4."


def price_source(data: pd.DataFrame, source: str) -> np.ndarray:
    """The ``source`` price series as a contiguous float64 array (price units)."""
    if source in ("close", "open", "high", "low"):
        return as_float(data, source)
    high, low = as_float(data, "high"), as_float(data, "low")
    if source == "hl2":
        return (high + low) / 2.0
    if source == "hlc3":
        return (high + low + as_float(data, "close")) / 3.0
    if source == "ohlc4":
        return (as_float(data, "open") + high + low + as_float(data, "close")) / 4.0
    raise ValueError(f"unknown price source {source!r}")


def labels(mask_values: list[tuple[np.ndarray, str]], length: int, default: str) -> np.ndarray:
    """Object array of labels, the first matching mask wins, else ``default``.

    Same result as :func:`modules.base.categorical` but built from small integer codes,
    several times faster on a million bars.
    """
    codes = np.zeros(length, dtype=np.int8)
    for code in range(len(mask_values), 0, -1):
        np.copyto(codes, code, where=mask_values[code - 1][0])
    names = np.array([default] + [label for _, label in mask_values], dtype=object)
    return names[codes]


def zones(value: np.ndarray, overbought: float, oversold: float) -> np.ndarray:
    """``overbought`` at/above ``overbought``, ``oversold`` at/below ``oversold``, else neutral."""
    return labels([(value >= overbought, "overbought"), (value <= oversold, "oversold")],
                  len(value), "neutral")


def position(price: np.ndarray, level: np.ndarray) -> np.ndarray:
    """``above`` / ``below`` where ``price`` is above / below ``level``, else ``neutral``."""
    with np.errstate(invalid="ignore"):
        return labels([(price > level, "above"), (price < level, "below")], len(price), "neutral")


#: the outputs every moving-average module declares.
MA_OUTPUTS = (
    Output("value", "numeric", "moving average, price units", primary=True),
    Output("position", "categorical",
           "close above / below the average (neutral if equal or warming up)",
           values=("above", "below", "neutral")),
)


def ma_params(default_period: int = 20, min_period: int = 2) -> tuple[Param, ...]:
    """``period`` (key) and ``source`` params shared by the moving-average modules."""
    return (Param("period", "integer", default_period, title="Period", min=min_period, max=1000,
                  step=1, key=True),
            Param("source", "select", "close", title="Source", options=SOURCES, help=SOURCE_HELP))
