"""Support/resistance zones from clustered swing points.

Swing highs and lows (fractals of strength ``left`` / ``right``, each known only ``right`` bars
after the swing; see ``modules.common.swings_sr``) confirmed within the last ``lookback`` bars
are clustered whenever a swing enters or leaves that window: sorted by price, a zone starts at
the lowest unused swing price and takes every swing price up to ``zone_width`` * ATR(atr_period)
above it (ATR of the bar the zones are rebuilt on; highs and lows alike, as old resistance
becomes support). A zone's level is the mean of its swing prices, its touches the number of
swings in it, and it spans level +/- ``zone_width`` / 2 ATR. Zones with fewer than
``min_touches`` swings are ignored. At each bar the nearest support is the zone with the
highest level at or below the close, the nearest resistance the zone with the lowest level
above it. ``state``: "in_support" / "in_resistance" when the close is inside that zone (the
nearer level wins if both), "outside" when in neither, "neutral" when there are no zones.
Price units. Numba kernel; clustering runs only when the set of swings changes, over the window's
prices kept sorted as swings enter and leave (no sort, no allocation per change).
Approach after the common fractal S/R method (Bill Williams, "Trading Chaos", 1995).
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.common.swings_sr import confirmed_swings

STATES = ("neutral", "in_support", "in_resistance", "outside")


@njit(cache=True, nogil=True)
def _events(swing_high, swing_low):
    """Swings in confirmation order as (bar, price) pairs; a high and a low confirmed on the
    same bar give two events, the high first."""
    n = swing_high.shape[0]
    bars = np.empty(2 * n, dtype=np.int64)
    prices = np.empty(2 * n)
    m = 0
    for t in range(n):
        if not np.isnan(swing_high[t]):
            bars[m] = t
            prices[m] = swing_high[t]
            m += 1
        if not np.isnan(swing_low[t]):
            bars[m] = t
            prices[m] = swing_low[t]
            m += 1
    return bars[:m], prices[:m]


@njit(cache=True)
def _zones(close, atr, ev_bar, ev_price, right, lookback, width_atr, min_touches):
    n = close.shape[0]
    m = ev_bar.shape[0]
    # written once per bar (NaN where there is no such zone), not filled first
    support = np.empty(n)
    resistance = np.empty(n)
    support_top = np.empty(n)
    resistance_bottom = np.empty(n)
    support_touches = np.empty(n)
    resistance_touches = np.empty(n)
    state = np.empty(n, dtype=np.int8)
    z_level = np.empty(m)
    z_count = np.empty(m)
    window = np.empty(m)  # the prices of the swings in the window, kept sorted
    size = 0
    nz = 0
    half = np.nan
    start = 0
    end = 0
    for t in range(n):
        changed = False
        while end < m and ev_bar[end] <= t:
            # a swing enters: inserted in order (equal prices are interchangeable)
            price = ev_price[end]
            at = np.searchsorted(window[:size], price)
            for k in range(size, at, -1):
                window[k] = window[k - 1]
            window[at] = price
            size += 1
            end += 1
            changed = True
        while start < end and ev_bar[start] - right <= t - lookback:
            # a swing leaves: one entry of its price goes
            at = np.searchsorted(window[:size], ev_price[start])
            for k in range(at, size - 1):  # (a slice assignment between overlapping views copies twice)
                window[k] = window[k + 1]
            size -= 1
            start += 1
            changed = True
        if changed:
            nz = 0
            width = width_atr * atr[t]
            half = width / 2.0
            if end > start and width > 0.0:
                levels = window[:size]  # np.sort(ev_price[start:end]), kept up to date
                first = levels[0]
                total = 0.0
                count = 0
                for q in range(levels.shape[0] + 1):
                    if q < levels.shape[0] and levels[q] - first <= width:
                        total += levels[q]
                        count += 1
                        continue
                    if count >= min_touches:
                        z_level[nz] = total / count
                        z_count[nz] = count
                        nz += 1
                    if q < levels.shape[0]:
                        first = levels[q]
                        total = levels[q]
                        count = 1
        c = close[t]
        support[t] = np.nan
        resistance[t] = np.nan
        support_top[t] = np.nan
        resistance_bottom[t] = np.nan
        support_touches[t] = np.nan
        resistance_touches[t] = np.nan
        state[t] = 0
        if nz == 0 or np.isnan(c):
            continue
        # levels strictly increase with z (disjoint clusters of sorted prices): the support is
        # the last zone at or below the close, the resistance the one after it
        s = np.searchsorted(z_level[:nz], c, side="right") - 1
        r = s + 1 if s + 1 < nz else -1
        state[t] = 3
        in_support = False
        if s >= 0:
            support[t] = z_level[s]
            support_top[t] = z_level[s] + half
            support_touches[t] = z_count[s]
            in_support = c <= z_level[s] + half
        if r >= 0:
            resistance[t] = z_level[r]
            resistance_bottom[t] = z_level[r] - half
            resistance_touches[t] = z_count[r]
            # in both overlapping zones: the nearer level wins
            if c >= z_level[r] - half and not (in_support and c - z_level[s] <= z_level[r] - c):
                state[t] = 2
                continue
        if in_support:
            state[t] = 1
    return (support, resistance, support_top, resistance_bottom, support_touches, resistance_touches, state)


class SRZones(BaseModule):
    module_id = "sr_zones"
    name = "Support/Resistance Zones"
    category = "support_resistance"
    description = "Zones of clustered swing highs/lows: nearest support, resistance, in-zone state."
    params = (
        Param("left", "integer", 5, title="Swing Left Bars", min=1, max=100, step=1, key=True),
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
        Param(
            "lookback",
            "integer",
            300,
            title="Lookback (bars)",
            min=10,
            max=10000,
            step=1,
            help="Swings older than this many bars are dropped.",
        ),
        Param(
            "zone_width",
            "number",
            1.0,
            title="Zone Width (ATR)",
            min=0.05,
            max=10,
            step=0.05,
            help="Full width of a zone, in ATRs; swings this close cluster.",
        ),
        Param("atr_period", "integer", 14, title="ATR Period", min=1, max=500, step=1),
        Param(
            "min_touches",
            "integer",
            2,
            title="Min Touches",
            min=1,
            max=20,
            step=1,
            help="Swings a zone needs to count.",
        ),
    )
    outputs = (
        Output(
            "state",
            "categorical",
            "close inside the nearest support / resistance zone, outside zones, or no zones",
            values=STATES,
            primary=True,
        ),
        Output("support", "numeric", "level of the nearest support zone, price units"),
        Output("resistance", "numeric", "level of the nearest resistance zone, price units"),
        Output("support_top", "numeric", "upper edge of the support zone, price units"),
        Output("resistance_bottom", "numeric", "lower edge of the resistance zone, price units"),
        Output("support_touches", "numeric", "swings in the support zone (count)"),
        Output("resistance_touches", "numeric", "swings in the resistance zone (count)"),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        sh, sl = confirmed_swings(high, low, config["left"], config["right"])
        atr = talib.ATR(high, low, close, timeperiod=config["atr_period"])
        bars, prices = _events(sh, sl)
        (support, resistance, support_top, resistance_bottom, support_touches, resistance_touches, state) = _zones(
            close,
            atr,
            bars,
            prices,
            config["right"],
            config["lookback"],
            config["zone_width"],
            config["min_touches"],
        )
        return {
            "state": labels_from_codes(state, STATES),
            "support": support,
            "resistance": resistance,
            "support_top": support_top,
            "resistance_bottom": resistance_bottom,
            "support_touches": support_touches,
            "resistance_touches": resistance_touches,
        }
