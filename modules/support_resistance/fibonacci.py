"""Fibonacci retracement levels of the last confirmed swing.

Swing highs/lows are fractals of strength ``left`` / ``right`` (see
``modules.common.swings_sr``); a swing at bar i is only known at bar i + ``right``. The leg is
the last confirmed swing high H and the last confirmed swing low L: "up" if the high came after
the low (the leg ran L -> H), else "down" (a high and a low on the same bar count as "up").
Levels sit at the ratios 0.236, 0.382, 0.5, 0.618, 0.786 of the leg measured back from its
end: up leg H - r (H - L), down leg L + r (H - L). ``retracement`` is how far the close has
given back the leg, as a fraction: 0 at the leg's end, 1 at its start, < 0 beyond the end,
> 1 beyond the start. Price units otherwise. NaN / "neutral" until both swings exist or when
H <= L. Numba: one pass over blocks of bars carries the last swings forward, then computes the
block's levels into arrays allocated by NumPy. Ratios as in Robert Fischer, "Fibonacci
Applications and Strategies for Traders" (1993).
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes

RATIOS = (0.236, 0.382, 0.5, 0.618, 0.786)
ZONES = ("beyond_end", "0_236", "236_382", "382_500", "500_618", "618_786", "786_1000", "beyond_start", "neutral")
ZONE_EDGES = np.array((0.0,) + RATIOS)  # zone k holds retracements in [edge k-1, edge k)
LEVEL_RATIOS = np.array(RATIOS)
assert len(ZONE_EDGES) == 6 and len(LEVEL_RATIOS) == 5  # _fib unrolls the edges and the levels


@njit(cache=True, nogil=True, error_model="numpy")
def _legs(high, low, close, left, right, edges, ratios, swing_high, swing_low, retracement, direction, zone, levels):
    """Sequential part: last confirmed swing high / low per bar and whether the leg is up; each
    block of bars then goes through :func:`_fib` while in cache (one pass over the bars).

    Bar ``i = t - right`` is tested as a swing at bar ``t`` (the same tests as
    :func:`modules.common.swings_sr.is_swing_high` / ``is_swing_low``, without early exits).
    The tests run over blocks of bars with the neighbour as the outer loop, so the comparisons
    read contiguous memory and vectorise; the swings are then taken in bar order."""
    n = high.shape[0]
    block = 4096
    up = np.empty(block, dtype=np.bool_)
    found_high = np.empty(block, dtype=np.bool_)
    found_low = np.empty(block, dtype=np.bool_)
    last_high = np.nan
    last_low = np.nan
    is_up = True
    for start in range(0, n, block):
        m = min(block, n - start)
        first = min(m, max(0, left + right - start))  # bars before t = left + right test nothing
        found_high[:first] = False
        found_low[:first] = False
        # bar first + k of the block tests bar i = lo + k; slices start at index 0, which lets
        # LLVM drop the negative-index checks and vectorise
        size = m - first
        lo = start - right + first
        tested_high = found_high[first:m]
        tested_low = found_low[first:m]
        tested_high[:] = True
        tested_low[:] = True
        high_i = high[lo : lo + size]
        low_i = low[lo : lo + size]
        for j in range(1, left + 1):
            high_j = high[lo - j : lo - j + size]
            low_j = low[lo - j : lo - j + size]
            for k in range(size):
                tested_high[k] &= high_i[k] > high_j[k]
                tested_low[k] &= low_i[k] < low_j[k]
        for j in range(1, right + 1):
            high_j = high[lo + j : lo + j + size]
            low_j = low[lo + j : lo + j + size]
            for k in range(size):
                tested_high[k] &= high_i[k] >= high_j[k]
                tested_low[k] &= low_i[k] <= low_j[k]
        base = start - right
        for k in range(m):
            if found_high[k]:
                last_high = high[base + k]
            if found_low[k]:
                last_low = low[base + k]
            if found_high[k] or found_low[k]:
                is_up = found_high[k]  # a high and a low on the same bar count as an up leg
            swing_high[start + k] = last_high
            swing_low[start + k] = last_low
            up[k] = is_up
        stop = start + m
        _fib(
            close[start:stop],
            swing_high[start:stop],
            swing_low[start:stop],
            up[:m],
            edges,
            ratios,
            retracement[start:stop],
            direction[start:stop],
            zone[start:stop],
            levels[0][start:stop],
            levels[1][start:stop],
            levels[2][start:stop],
            levels[3][start:stop],
            levels[4][start:stop],
        )


@njit(cache=True, nogil=True, error_model="numpy")
def _fib(
    close,
    swing_high,
    swing_low,
    up,
    edges,
    ratios,
    retracement,
    direction,
    zone,
    level_0,
    level_1,
    level_2,
    level_3,
    level_4,
):
    """Per-bar part (branchless, vectorised): retracement, direction (0 up, 1 down, 2 neutral)
    and zone codes (index into ZONES), and the 5 levels end - ratio * move of the leg (its end
    and signed size, NaN without a valid leg). ``edges`` are the 6 ascending zone edges,
    ``ratios`` the 5 level ratios."""
    n = close.shape[0]
    r0, r1, r2, r3, r4 = ratios[0], ratios[1], ratios[2], ratios[3], ratios[4]
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
        level_0[t] = e - r0 * m
        level_1[t] = e - r1 * m
        level_2[t] = e - r2 * m
        level_3[t] = e - r3 * m
        level_4[t] = e - r4 * m
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
        # the outputs are allocated by NumPy, which backs large arrays with huge pages (fewer
        # page faults than arrays allocated in a Numba kernel), and filled in one pass
        n = len(close)
        swing_high, swing_low, retracement = np.empty(n), np.empty(n), np.empty(n)
        levels = tuple(np.empty(n) for _ in RATIOS)
        direction, zone = np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int8)
        _legs(
            high,
            low,
            close,
            config["left"],
            config["right"],
            ZONE_EDGES,
            LEVEL_RATIOS,
            swing_high,
            swing_low,
            retracement,
            direction,
            zone,
            levels,
        )
        out: dict = {"retracement": retracement, "swing_high": swing_high, "swing_low": swing_low}
        for r, level in zip(RATIOS, levels, strict=True):
            out[f"level_{round(r * 1000):03d}"] = level
        out["direction"] = labels_from_codes(direction, ("up", "down", "neutral"))
        out["zone"] = labels_from_codes(zone, ZONES)
        return out
