"""Market-structure and candle helpers shared by the ICT modules.

Everything here is causal: the value at bar ``t`` reads bars up to ``t`` only, and swings are
used from their confirmation bar (see :mod:`modules.common.swings`).
"""

from __future__ import annotations

import numpy as np
import talib
from numba import njit

from modules.base import Param, as_float
from modules.common.swings import Swings, find_swings

# Bullish/bearish break of structure and change of character, as event codes.
BOS_UP, CHOCH_UP, BOS_DOWN, CHOCH_DOWN = 1, 2, -1, -2


def swing_params(left: int = 5, right: int = 5) -> tuple[Param, Param]:
    """The two swing parameters (they name the columns: ``<module>_<left>_<right>``)."""
    return (
        Param(
            "left",
            "integer",
            left,
            title="Swing Bars Left",
            min=1,
            max=100,
            step=1,
            key=True,
            help="A swing high must be above this many highs before it.",
        ),
        Param(
            "right",
            "integer",
            right,
            title="Swing Bars Right",
            min=1,
            max=100,
            step=1,
            key=True,
            help="...and above this many highs after it; it is known only then.",
        ),
    )


def ohlc(data):
    """``(open, high, low, close)`` as float64 arrays."""
    return tuple(as_float(data, c) for c in ("open", "high", "low", "close"))


def swings_of(data, config) -> Swings:
    return find_swings(as_float(data, "high"), as_float(data, "low"), config["left"], config["right"])


@njit(cache=True)
def _breaks(up_price, down_price, open_, close, new_high, new_low, high, low, right):
    n = close.shape[0]
    trend = np.zeros(n, dtype=np.int8)
    event = np.zeros(n, dtype=np.int8)
    level = np.full(n, np.nan)
    swing_high = np.nan
    swing_low = np.nan
    high_live = False
    low_live = False
    tr = 0
    for t in range(n):
        if new_high[t]:
            swing_high = high[t - right]
            high_live = True
        if new_low[t]:
            swing_low = low[t - right]
            low_live = True
        up = high_live and up_price[t] > swing_high
        down = low_live and down_price[t] < swing_low
        if up and down:  # only when the last swing high sits below the last swing low
            if close[t] >= open_[t]:
                down = False
            else:
                up = False
        if up:
            event[t] = 1 if tr >= 0 else 2
            level[t] = swing_high
            high_live = False
            tr = 1
        elif down:
            event[t] = -1 if tr <= 0 else -2
            level[t] = swing_low
            low_live = False
            tr = -1
        trend[t] = tr
    return trend, event, level


def structure_breaks(open_, high, low, close, swings: Swings, break_on: str = "close"):
    """Breaks of the last confirmed swing, bar by bar.

    Returns ``(trend, event, level)``: ``trend`` is +1 / -1 / 0 (bullish, bearish, none yet)
    after bar ``t``; ``event`` is one of BOS_UP, CHOCH_UP, BOS_DOWN, CHOCH_DOWN or 0 at the bar
    whose close (or wick, ``break_on="wick"``) goes beyond the level; ``level`` is the level
    broken (NaN on other bars). Each swing level can be broken once.
    """
    up_price = close if break_on == "close" else high
    down_price = close if break_on == "close" else low
    return _breaks(up_price, down_price, open_, close, swings.new_high, swings.new_low, high, low, swings.right)


def shift(values: np.ndarray, bars: int = 1) -> np.ndarray:
    """``values`` delayed by ``bars`` (NaN at the start)."""
    out = np.full(len(values), np.nan)
    if bars < len(values):
        out[bars:] = values[: len(values) - bars]
    return out


@njit(cache=True)
def last_index(mask: np.ndarray) -> np.ndarray:
    """Per bar, the index of the most recent bar at or before it where ``mask`` holds (-1)."""
    out = np.empty(mask.shape[0], dtype=np.int64)
    last = -1
    for t in range(mask.shape[0]):
        if mask[t]:
            last = t
        out[t] = last
    return out


def streak(mask: np.ndarray) -> np.ndarray:
    """Per bar, how many consecutive bars up to and including it satisfy ``mask``."""
    idx = np.arange(len(mask))
    return idx - last_index(~mask)


def displacement(open_, high, low, close, atr_period: int, multiplier: float, min_body_ratio: float, max_run: int):
    """Displacement candles (or runs) per bar, known at the bar's close.

    A run of ``m <= max_run`` consecutive candles of one colour, each with body / range >=
    ``min_body_ratio`` (small wicks), whose net move ``|close[t] - open[t-m+1]|`` is at least
    ``multiplier`` x ATR(``atr_period``) of the bar before the run. Returns ``(direction,
    candles, atr_before)``: +1 / -1 / 0, the shortest qualifying run length (0 if none), and
    the ATR of the previous bar (price units).
    """
    atr_before = shift(talib.ATR(high, low, close, timeperiod=atr_period), 1)
    body = close - open_
    rng = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(rng > 0, np.abs(body) / np.where(rng > 0, rng, 1.0), 0.0)
    solid = ratio >= min_body_ratio
    up_streak = streak(solid & (body > 0))
    down_streak = streak(solid & (body < 0))
    n = len(close)
    direction = np.zeros(n, dtype=np.int8)
    candles = np.zeros(n, dtype=np.int64)
    for m in range(1, max_run + 1):
        run_open = shift(open_, m - 1) if m > 1 else open_
        threshold = multiplier * (shift(atr_before, m - 1) if m > 1 else atr_before)
        move = close - run_open
        with np.errstate(invalid="ignore"):
            up = (up_streak >= m) & (move >= threshold) & (candles == 0)
            down = (down_streak >= m) & (-move >= threshold) & (candles == 0)
        direction[up] = 1
        direction[down] = -1
        candles[up | down] = m
    return direction, candles, atr_before


DISPLACEMENT_PARAMS = (
    Param(
        "atr_period",
        "integer",
        14,
        title="ATR Period",
        min=1,
        max=500,
        step=1,
        help="ATR that measures a displacement (of the bar before the move).",
    ),
    Param(
        "multiplier",
        "number",
        1.5,
        title="Displacement Size (x ATR)",
        min=0.1,
        max=10,
        step=0.1,
        help="A displacement moves at least this many ATRs.",
    ),
    Param(
        "min_body_ratio",
        "number",
        0.6,
        title="Minimum Body / Range",
        min=0.0,
        max=1.0,
        step=0.05,
        help="Each displacement candle's body is at least this share of its range.",
    ),
    Param(
        "max_run",
        "integer",
        1,
        title="Candles In A Run",
        min=1,
        max=10,
        step=1,
        help="A displacement may be a run of up to this many same-colour candles.",
    ),
)


def order_block_zones(open_, high, low, close, event, disp_direction, zone_type: str):
    """Order blocks drawn at each structure break, bullish and bearish.

    A bullish order block is the last down-close candle before a bullish displacement that
    breaks structure: at a bullish break bar ``t`` (``event`` > 0), the candle ``j`` is the last
    bearish candle before ``t``, and a bullish displacement must end in ``(j, t]`` (when
    ``disp_direction`` is given). Its zone is the candle's range (``zone_type="wick"``) or body.
    The same candle gives at most one block. Returns ``((created, top, bottom, candle), ...)``
    for bullish then bearish blocks, as arrays sorted by the creation bar ``t``.
    """
    out = []
    for sign in (1, -1):
        opposite = close < open_ if sign == 1 else close > open_
        last_opp = shift(last_index(opposite).astype(np.float64), 1)
        breaks = np.flatnonzero(event * sign > 0)
        j = last_opp[breaks]
        ok = np.isfinite(j) & (j >= 0)
        breaks, j = breaks[ok], j[ok].astype(np.int64)
        if disp_direction is not None:
            last_disp = last_index(disp_direction == sign)
            keep = last_disp[breaks] > j
            breaks, j = breaks[keep], j[keep]
        first = np.ones(len(j), dtype=bool)
        first[1:] = j[1:] != j[:-1]  # one block per candle
        breaks, j = breaks[first], j[first]
        if zone_type == "wick":
            top, bottom = high[j], low[j]
        else:
            top, bottom = np.maximum(open_[j], close[j]), np.minimum(open_[j], close[j])
        out.append((breaks, top, bottom, j))
    return out
