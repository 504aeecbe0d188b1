"""Fibonacci retracement levels of the last confirmed swing.

Swing highs/lows are fractals of strength ``left`` / ``right`` (see
``modules.common.swings_sr``); a swing at bar i is only known at bar i + ``right``. The leg is
the last confirmed swing high H and the last confirmed swing low L: "up" if the high came after
the low (the leg ran L -> H), else "down" (a high and a low on the same bar count as "up").
Levels sit at the ratios 0.236, 0.382, 0.5, 0.618, 0.786 of the leg measured back from its
end: up leg H - r (H - L), down leg L + r (H - L). ``retracement`` is how far the close has
given back the leg, as a fraction: 0 at the leg's end, 1 at its start, < 0 beyond the end,
> 1 beyond the start. Price units otherwise. NaN / "neutral" until both swings exist or when
H <= L. One Numba pass (the last swings are carried forward bar by bar). Ratios as in
Robert Fischer, "Fibonacci Applications and Strategies for Traders" (1993).
"""
import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.swings_sr import is_swing_high, is_swing_low

RATIOS = (0.236, 0.382, 0.5, 0.618, 0.786)
ZONES = ("beyond_end", "0_236", "236_382", "382_500", "500_618", "618_786", "786_1000",
         "beyond_start", "neutral")
ZONE_EDGES = np.array((0.0,) + RATIOS)  # zone k holds retracements in [edge k-1, edge k)


@njit(cache=True)
def _fib(high, low, close, left, right, ratios, edges):
    """One pass: last confirmed swing high/low, leg direction, retracement, levels, zone code."""
    n = close.shape[0]
    swing_high = np.empty(n)
    swing_low = np.empty(n)
    retracement = np.empty(n)
    levels = np.empty((ratios.shape[0], n))
    direction = np.empty(n, dtype=np.int8)  # 0 up, 1 down, 2 neutral
    zone = np.empty(n, dtype=np.int8)  # index into ZONES
    last_high = np.nan
    last_low = np.nan
    up = True
    for t in range(n):
        i = t - right  # the bar that can be confirmed as a swing now
        found_high = i >= 0 and is_swing_high(high, i, left, right)
        found_low = i >= 0 and is_swing_low(low, i, left, right)
        if found_high:
            last_high = high[i]
        if found_low:
            last_low = low[i]
        if found_high or found_low:
            up = found_high  # a high and a low on the same bar count as an up leg
        swing_high[t] = last_high
        swing_low[t] = last_low
        span = last_high - last_low
        if not span > 0.0:  # no leg yet (NaN) or an inverted one
            retracement[t] = np.nan
            levels[:, t] = np.nan
            direction[t] = 2
            zone[t] = 8
            continue
        end = last_high if up else last_low
        move = span if up else -span
        r = (end - close[t]) / move
        retracement[t] = r
        for k in range(ratios.shape[0]):
            levels[k, t] = end - ratios[k] * move
        direction[t] = 0 if up else 1
        if r > 1.0:
            zone[t] = 7
        elif r == r:
            code = 0
            while code < edges.shape[0] and r >= edges[code]:
                code += 1
            zone[t] = code
        else:
            zone[t] = 8
    return swing_high, swing_low, retracement, levels, direction, zone


class Fibonacci(BaseModule):
    module_id = "fibonacci"
    name = "Fibonacci Retracements"
    category = "support_resistance"
    description = "Retracement levels of the last confirmed swing leg, and how deep price is in it."
    params = (
        Param("left", "integer", 5, title="Swing Left Bars", min=1, max=100, step=1, key=True,
              help="Bars before a swing point that must be lower (highs) / higher (lows)."),
        Param("right", "integer", 5, title="Swing Right Bars", min=1, max=100, step=1, key=True,
              help="Bars after a swing point needed to confirm it (the delay)."),
    )
    outputs = (
        Output("retracement", "numeric",
               "fraction of the leg given back: 0 = leg end, 0.618 = golden level, 1 = leg start",
               primary=True),
        Output("swing_high", "numeric", "last confirmed swing high, price units"),
        Output("swing_low", "numeric", "last confirmed swing low, price units"),
        *(Output(f"level_{round(r * 1000):03d}", "numeric", f"{r:g} retracement, price units")
          for r in RATIOS),
        Output("direction", "categorical", "the leg ran up (low then high) or down",
               values=("up", "down", "neutral")),
        Output("zone", "categorical", "which pair of retracement levels the close is between",
               values=ZONES),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        swing_high, swing_low, retracement, levels, direction, zone = _fib(
            high, low, close, config["left"], config["right"], np.array(RATIOS), ZONE_EDGES)
        out = {"retracement": retracement, "swing_high": swing_high, "swing_low": swing_low}
        for k, r in enumerate(RATIOS):
            out[f"level_{round(r * 1000):03d}"] = levels[k]
        out["direction"] = np.array(("up", "down", "neutral"), dtype=object).take(direction)
        out["zone"] = np.array(ZONES, dtype=object).take(zone)
        return out
