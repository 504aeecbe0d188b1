"""Fibonacci retracement levels of the last confirmed swing.

Swing highs/lows are fractals of strength ``left`` / ``right`` (see
``modules.common.swings_sr``); a swing at bar i is only known at bar i + ``right``. The leg is
the last confirmed swing high H and the last confirmed swing low L: "up" if the high came after
the low (the leg ran L -> H), else "down" (a high and a low on the same bar count as "up").
Levels sit at the ratios 0.236, 0.382, 0.5, 0.618, 0.786 of the leg measured back from its
end: up leg H - r (H - L), down leg L + r (H - L). ``retracement`` is how far the close has
given back the leg, as a fraction: 0 at the leg's end, 1 at its start, < 0 beyond the end,
> 1 beyond the start. Price units otherwise. NaN / "neutral" until both swings exist or when
H <= L. Numba: one sequential pass carries the last swings forward, a second computes the
levels. Ratios as in Robert Fischer, "Fibonacci Applications and Strategies for Traders" (1993).
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes

RATIOS = (0.236, 0.382, 0.5, 0.618, 0.786)
ZONES = ("beyond_end", "0_236", "236_382", "382_500", "500_618", "618_786", "786_1000", "beyond_start", "neutral")
ZONE_EDGES = np.array((0.0,) + RATIOS)  # zone k holds retracements in [edge k-1, edge k)
assert len(ZONE_EDGES) == 6  # _fib unrolls the edge comparisons


@njit(cache=True, nogil=True)
def _legs(high, low, left, right):
    """Sequential part: last confirmed swing high / low per bar and whether the leg is up.

    Bar ``i = t - right`` is tested as a swing at bar ``t`` (the same tests as
    :func:`modules.common.swings_sr.is_swing_high` / ``is_swing_low``, without early exits)."""
    n = high.shape[0]
    swing_high = np.empty(n)
    swing_low = np.empty(n)
    up = np.empty(n, dtype=np.bool_)
    last_high = np.nan
    last_low = np.nan
    is_up = True
    for t in range(n):
        i = t - right  # the bar that can be confirmed as a swing now
        found_high = False
        found_low = False
        if i >= left:
            x = high[i]
            y = low[i]
            found_high = True
            found_low = True
            for j in range(1, left + 1):
                found_high &= x > high[i - j]
                found_low &= y < low[i - j]
            for j in range(1, right + 1):
                found_high &= x >= high[i + j]
                found_low &= y <= low[i + j]
        if found_high:
            last_high = high[i]
        if found_low:
            last_low = low[i]
        if found_high or found_low:
            is_up = found_high  # a high and a low on the same bar count as an up leg
        swing_high[t] = last_high
        swing_low[t] = last_low
        up[t] = is_up
    return swing_high, swing_low, up


@njit(cache=True, nogil=True, error_model="numpy")
def _fib(close, swing_high, swing_low, up, edges):
    """Per-bar part (branchless, vectorised): leg end and signed size (NaN without a valid
    leg), retracement, direction and zone codes. ``edges`` are the 6 ascending zone edges."""
    n = close.shape[0]
    end = np.empty(n)
    move = np.empty(n)
    retracement = np.empty(n)
    direction = np.empty(n, dtype=np.int8)  # 0 up, 1 down, 2 neutral
    zone = np.empty(n, dtype=np.int8)  # index into ZONES
    e0, e1, e2, e3, e4, e5 = edges[0], edges[1], edges[2], edges[3], edges[4], edges[5]
    for t in range(n):
        high = swing_high[t]
        low = swing_low[t]
        span = high - low
        valid = span > 0.0  # False with no leg yet (NaN) or an inverted one
        e = high if up[t] else low
        m = span if up[t] else -span
        e = e if valid else np.nan
        m = m if valid else np.nan
        end[t] = e
        move[t] = m
        r = (e - close[t]) / m
        retracement[t] = r
        direction[t] = (0 if up[t] else 1) if valid else 2
        code = (
            np.int8(r >= e0)
            + np.int8(r >= e1)
            + np.int8(r >= e2)
            + np.int8(r >= e3)
            + np.int8(r >= e4)
            + np.int8(r >= e5)
        )  # edges at or below r
        zone[t] = 7 if r > 1.0 else (code if r == r else 8)
    return end, move, retracement, direction, zone


@njit(cache=True, nogil=True)
def _level(end, move, ratio):
    """The retracement level ``end - ratio * move`` (NaN without a leg)."""
    out = np.empty(end.shape[0])
    for t in range(end.shape[0]):
        out[t] = end[t] - ratio * move[t]
    return out


class Fibonacci(BaseModule):
    module_id = "fibonacci"
    name = "Fibonacci Retracements"
    category = "support_resistance"
    description = "Retracement levels of the last confirmed swing leg, and how deep price is in it."
    params = (
        Param(
            "left",
            "integer",
            5,
            title="Swing Left Bars",
            min=1,
            max=100,
            step=1,
            key=True,
            help="Bars before a swing point that must be lower (highs) / higher (lows).",
        ),
        Param(
            "right",
            "integer",
            5,
            title="Swing Right Bars",
            min=1,
            max=100,
            step=1,
            key=True,
            help="Bars after a swing point needed to confirm it (the delay).",
        ),
    )
    outputs = (
        Output(
            "retracement",
            "numeric",
            "fraction of the leg given back: 0 = leg end, 0.618 = golden level, 1 = leg start",
            primary=True,
        ),
        Output("swing_high", "numeric", "last confirmed swing high, price units"),
        Output("swing_low", "numeric", "last confirmed swing low, price units"),
        *(Output(f"level_{round(r * 1000):03d}", "numeric", f"{r:g} retracement, price units") for r in RATIOS),
        Output("direction", "categorical", "the leg ran up (low then high) or down", values=("up", "down", "neutral")),
        Output("zone", "categorical", "which pair of retracement levels the close is between", values=ZONES),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        swing_high, swing_low, up = _legs(high, low, config["left"], config["right"])
        end, move, retracement, direction, zone = _fib(close, swing_high, swing_low, up, ZONE_EDGES)
        out = {"retracement": retracement, "swing_high": swing_high, "swing_low": swing_low}
        for r in RATIOS:
            out[f"level_{round(r * 1000):03d}"] = _level(end, move, r)
        out["direction"] = labels_from_codes(direction, ("up", "down", "neutral"))
        out["zone"] = labels_from_codes(zone, ZONES)
        return out
