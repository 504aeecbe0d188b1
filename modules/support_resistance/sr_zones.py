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
from modules.common.swings_sr import swing_extremes

STATES = ("neutral", "in_support", "in_resistance", "outside")


@njit(cache=True, nogil=True)
def _zones(
    close,
    atr,
    high,
    low,
    left_max,
    left_min,
    right_max,
    right_min,
    right,
    lookback,
    width_atr,
    min_touches,
    support,
    resistance,
    support_top,
    resistance_bottom,
    support_touches,
    resistance_touches,
    state,
):
    """Fills the outputs (allocated by NumPy, which backs large arrays with huge pages: fewer
    page faults than arrays allocated here), each written once per bar. The swings are found
    here too, with :func:`modules.common.swings_sr.confirmed_swings`' tests on its TA-Lib
    extremes, and kept as (bar, price) events in confirmation order (a high before a low)."""
    n = close.shape[0]
    # pages of these never written are never touched
    ev_bar = np.empty(2 * n, dtype=np.int64)
    ev_price = np.empty(2 * n)
    z_level = np.empty(2 * n)
    z_count = np.empty(2 * n)
    window = np.empty(2 * n)  # the prices of the swings in the window, kept sorted
    m = 0
    size = 0
    nz = 0
    half = np.nan
    start = 0
    end = 0
    ordered = True
    s = -1  # the support zone of the previous bar (a hint: the close moves little)
    for t in range(n):
        changed = False
        if t > right:
            # the swing tests of bar t - right, written at the next free slot, which advances only
            # for a swing (no branch to mispredict)
            i = t - right
            h = high[i]
            lo = low[i]
            ev_bar[m] = t
            ev_price[m] = h
            m += (h > left_max[i - 1]) & (h >= right_max[t])
            ev_bar[m] = t
            ev_price[m] = lo
            m += (lo < left_min[i - 1]) & (lo <= right_min[t])
        while end < m and ev_bar[end] <= t:
            # a swing enters: inserted in order (equal prices are interchangeable)
            price = ev_price[end]
            k = size
            while k > 0 and window[k - 1] > price:
                window[k] = window[k - 1]
                k -= 1
            window[k] = price
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
                # sorted prices into clusters: each from its lowest price up to width above it
                q = 0
                while q < size:
                    first = window[q]
                    total = (0.0 + first) if q == 0 else first  # (the running sum started at 0.0)
                    count = 1
                    q += 1
                    while q < size and window[q] - first <= width:
                        total += window[q]
                        count += 1
                        q += 1
                    if count >= min_touches:
                        z_level[nz] = total / count
                        z_count[nz] = count
                        nz += 1
            s = -1
            # a mean can round a few ulps past its cluster's edge: with levels out of order,
            # NumPy's binary search decides, as before
            ordered = True
            for z in range(1, nz):
                ordered &= z_level[z - 1] <= z_level[z]
        c = close[t]
        if nz == 0 or np.isnan(c):
            support[t] = np.nan
            resistance[t] = np.nan
            support_top[t] = np.nan
            resistance_bottom[t] = np.nan
            support_touches[t] = np.nan
            resistance_touches[t] = np.nan
            state[t] = 0
            continue
        # levels strictly increase with z (disjoint clusters of sorted prices): the support is
        # the last zone at or below the close, the resistance the one after it
        if ordered:  # from the previous bar's: the same index as the binary search
            while s >= 0 and z_level[s] > c:
                s -= 1
            while s + 1 < nz and z_level[s + 1] <= c:
                s += 1
        else:
            s = np.searchsorted(z_level[:nz], c, side="right") - 1
        r = s + 1 if s + 1 < nz else -1
        code = 3
        in_support = False
        if s >= 0:
            support[t] = z_level[s]
            support_top[t] = z_level[s] + half
            support_touches[t] = z_count[s]
            in_support = c <= z_level[s] + half
        else:
            support[t] = np.nan
            support_top[t] = np.nan
            support_touches[t] = np.nan
        if r >= 0:
            resistance[t] = z_level[r]
            resistance_bottom[t] = z_level[r] - half
            resistance_touches[t] = z_count[r]
            # in both overlapping zones: the nearer level wins
            if c >= z_level[r] - half and not (in_support and c - z_level[s] <= z_level[r] - c):
                code = 2
        else:
            resistance[t] = np.nan
            resistance_bottom[t] = np.nan
            resistance_touches[t] = np.nan
        if code == 3 and in_support:
            code = 1
        state[t] = code


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
        left, right = config["left"], config["right"]
        if len(close) < left + right + 1:  # no swing can be confirmed (nor TA-Lib called, as before)
            left_max = left_min = right_max = right_min = np.full(len(close), np.nan)
        else:
            left_max, left_min, right_max, right_min = swing_extremes(high, low, left, right)
        atr = talib.ATR(high, low, close, timeperiod=config["atr_period"])
        n = len(close)
        support, resistance, support_top, resistance_bottom, support_touches, resistance_touches = (
            np.empty(n) for _ in range(6)
        )
        state = np.empty(n, dtype=np.int8)
        _zones(
            close,
            atr,
            high,
            low,
            left_max,
            left_min,
            right_max,
            right_min,
            right,
            config["lookback"],
            config["zone_width"],
            config["min_touches"],
            support,
            resistance,
            support_top,
            resistance_bottom,
            support_touches,
            resistance_touches,
            state,
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
