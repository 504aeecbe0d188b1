"""Rolling volume profile: point of control and value area over the last ``period`` bars.

The price range of the window (lowest low .. highest high) is cut into ``bins`` equal bins.
Each bar's volume is spread evenly over the bins its own low..high range touches. The point
of control (POC) is the centre of the bin with the most volume (the lowest such bin on a tie).
The value area (J. Peter Steidlmayer's Market Profile, CBOT 1980s) grows from the POC bin one
bin at a time towards the neighbour with more volume (the upper one on a tie) until it holds
``value_area`` percent of the window's volume; VAH / VAL are its top / bottom edges. Price
units; NaN until ``period`` bars exist or while the window has no volume. A flat window puts
POC, VAH and VAL at its single price. Volume ties count as equal within 1e-9 of the window's
volume. Numba kernel: the profile is rebuilt (difference array, O(period + bins)) only when
the window's high or low changes, else updated by the bar leaving and the bar entering (with up
to 128 bins in one pass over every bin, each bin taking a share only where the bar covers it:
no loop whose length varies bar by bar, the same additions in the same order); the previous
bar's point of control is checked first and the bins scanned only when it no longer holds.
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import band_position
from modules.common.swings_sr import rolling_max, rolling_min


# inlined by Numba: as a call it reference-counted ``hist`` twice a bar
@njit(cache=True, inline="always")
def _spread(hist, low, high, volume, bottom, scale, bins, sign):
    """Add (sign=1) or remove (sign=-1) one bar's volume, spread evenly over its bins."""
    a = min(int((low - bottom) * scale), bins - 1)
    b = min(int((high - bottom) * scale), bins - 1)
    share = sign * volume / (b - a + 1)
    for k in range(a + 2, b + 3):
        hist[k] += share


#: up to this many bins, a bar leaving and a bar entering update the profile in one pass over
#: every bin (selects, vector code): the bars' loops of 1 to a few bins cost a mispredicted
#: branch each (1,000,000 bars, 24 bins: the kernel 147 -> 127 ms, in turns); 128 bins still
#: gain, and past that the pass over every bin would cost more than it saves
MASKED_BINS = 128


@njit(cache=True, inline="always")
def _bar_range(low, high, volume, sign, bottom, scale, bins):
    """A bar's first and last bin and its signed share as ``_spread`` computes them, or the
    empty range (bins, -1) for a volume not above 0 (a bar ``_spread`` is not called for)."""
    if not volume > 0.0:
        return bins, -1, 0.0
    a = min(int((low - bottom) * scale), bins - 1)
    b = min(int((high - bottom) * scale), bins - 1)
    return a, b, sign * volume / (b - a + 1)


@njit(cache=True, inline="always")
def _swap_bars(hist, low_out, high_out, volume_out, low_in, high_in, volume_in, bottom, scale, bins):
    """What ``_spread`` does for the bar leaving (sign -1) and then for the bar entering (sign
    1), each only with a volume above 0, in one pass over the bins: a bin outside a bar's
    range keeps its value (a select, not an addition of 0), a bin inside takes the same
    additions in the same order."""
    a_out, b_out, share_out = _bar_range(low_out, high_out, volume_out, -1.0, bottom, scale, bins)
    a_in, b_in, share_in = _bar_range(low_in, high_in, volume_in, 1.0, bottom, scale, bins)
    for k in range(bins):
        x = hist[k + 2]
        x = x + share_out if a_out <= k <= b_out else x
        hist[k + 2] = x + share_in if a_in <= k <= b_in else x


@njit(cache=True, inline="always")
def _point_of_control(hist, bins, tol):
    """The first bin k (profile in hist[2 : bins + 2]) whose volume exceeds the best so far by
    more than ``tol``, scanning upwards from bin 0. With a finite profile that is the first bin
    holding the maximum, unless an earlier bin lies within ``tol`` of it: checked, and only then
    (or with an infinite volume in the window, ``tol`` not finite) the scan itself."""
    if np.isfinite(tol):
        m0 = hist[2]
        m1 = hist[2]
        m2 = hist[2]
        m3 = hist[2]
        k = 1
        while k + 3 < bins:  # four independent maxima: no chain of dependent compares
            m0 = max(m0, hist[k + 2])
            m1 = max(m1, hist[k + 3])
            m2 = max(m2, hist[k + 4])
            m3 = max(m3, hist[k + 5])
            k += 4
        while k < bins:
            m0 = max(m0, hist[k + 2])
            k += 1
        top = max(max(m0, m1), max(m2, m3))
        first = 0
        while first < bins and hist[first + 2] != top:
            first += 1
        near = first == bins
        for j in range(first):
            near |= hist[j + 2] + tol >= top
        if not near:
            return first
    best = 0
    for k in range(1, bins):
        if hist[k + 2] > hist[best + 2] + tol:
            best = k
    return best


@njit(cache=True, inline="always")
def _still_point_of_control(hist, bins, tol, p):
    """True if ``_point_of_control`` returns bin ``p``, checked in one pass (vector code, no
    branch): every bin before ``p`` below it by more than ``tol`` and none after it above it
    make ``p`` the first bin holding the maximum with no earlier bin within ``tol``, which its
    check-path returns (``tol`` finite; a NaN anywhere fails a comparison). False says nothing:
    the caller then runs ``_point_of_control``."""
    top = hist[p + 2]
    ok = True
    for j in range(bins):
        x = hist[j + 2]
        ok &= (x + tol < top) if j < p else (x <= top)
    return ok and np.isfinite(tol)


@njit(cache=True)
def _rolling_profile(high, low, volume, win_high, win_low, period, bins, va_frac):
    n = high.shape[0]
    # NaN where no profile is written (warm-up, no volume), not filled first
    poc = np.empty(n)
    vah = np.empty(n)
    val = np.empty(n)
    poc[: period - 1] = np.nan
    vah[: period - 1] = np.nan
    val[: period - 1] = np.nan
    # the profile in hist[2 : bins + 2], -inf in the two slots on either side: the value area
    # reads one and two bins past its edges without a bounds test
    hist = np.full(bins + 4, -np.inf)
    hist[2 : bins + 2] = 0.0
    edges = np.zeros(bins + 1)
    inverse = np.zeros(bins + 1)
    inverse[1:] = 1.0 / np.arange(1, bins + 1)
    first_bin = np.zeros(period, dtype=np.int64)
    last_bin = np.zeros(period, dtype=np.int64)
    built = False  # hist holds the window ending at t - 1 on the same price grid
    total = 0.0
    best = 0  # the last point of control found
    for t in range(period - 1, n):
        poc[t] = np.nan
        vah[t] = np.nan
        val[t] = np.nan
        top = win_high[t]
        bottom = win_low[t]
        if not top > bottom:  # NaN or flat window
            built = False
            if top == bottom:
                flat_total = 0.0
                for j in range(t - period + 1, t + 1):
                    if volume[j] > 0.0:
                        flat_total += volume[j]
                if flat_total > 0.0:
                    poc[t] = top
                    vah[t] = top
                    val[t] = top
            continue
        scale = bins / (top - bottom)
        if built and top == win_high[t - 1] and bottom == win_low[t - 1]:
            # same grid as the previous bar: drop the bar leaving, add the bar entering
            out = t - period
            if bins <= MASKED_BINS:
                _swap_bars(hist, low[out], high[out], volume[out], low[t], high[t], volume[t], bottom, scale, bins)
            else:
                if volume[out] > 0.0:
                    _spread(hist, low[out], high[out], volume[out], bottom, scale, bins, -1.0)
                if volume[t] > 0.0:
                    _spread(hist, low[t], high[t], volume[t], bottom, scale, bins, 1.0)
            if volume[out] > 0.0:
                total -= volume[out]
            if volume[t] > 0.0:
                total += volume[t]
        else:
            # rebuild with a difference array: +share at the first bin, -share past the last
            edges[:] = 0.0
            total = 0.0
            first = t - period + 1
            # each bar's first bin, then its last bin, in loops of their own over views of the
            # window (vector code: with both in one loop indexing the whole arrays, LLVM left it
            # scalar; the kernel about 5 ms faster), then the additions in bar order as before
            lows = low[first : first + period]
            highs = high[first : first + period]
            volumes = volume[first : first + period]
            for i in range(period):
                first_bin[i] = min(int((lows[i] - bottom) * scale), bins - 1)
            for i in range(period):
                last_bin[i] = min(int((highs[i] - bottom) * scale), bins - 1)
            for i in range(period):
                v = volumes[i]
                if v > 0.0:
                    a = first_bin[i]
                    b = last_bin[i]
                    share = v * inverse[b - a + 1]
                    edges[a] += share
                    edges[b + 1] -= share
                    total += v
            running = 0.0
            for k in range(bins):
                running += edges[k]
                hist[k + 2] = running
            built = True
        if total <= 0.0:
            continue
        # comparisons tolerate float residue of the incremental update (1e-9 of the volume)
        tol = 1e-9 * total
        # most bars keep the previous bar's point of control: checked first (1,000,000 bars,
        # 24 bins: 85 %; the kernel about 8 ms faster, in turns)
        if not _still_point_of_control(hist, bins, tol, best):
            best = _point_of_control(hist, bins, tol)
        lo_k = best
        hi_k = best
        acc = hist[best + 2]
        target = va_frac * total - tol
        up = hist[hi_k + 3]  # -inf past the top
        down = hist[lo_k + 1]  # -inf below the bottom
        while acc < target and (lo_k > 0 or hi_k < bins - 1):
            # the next candidates on both sides are loaded before the choice is known
            up_next = hist[hi_k + 4]
            down_next = hist[lo_k]
            if up >= down - tol:
                hi_k += 1
                acc += up
                up = up_next
            else:
                lo_k -= 1
                acc += down
                down = down_next
        width = (top - bottom) / bins
        poc[t] = bottom + (best + 0.5) * width
        vah[t] = bottom + (hi_k + 1) * width
        val[t] = bottom + lo_k * width
    return poc, vah, val


class VolumeProfile(BaseModule):
    module_id = "volume_profile"
    name = "Volume Profile"
    category = "volume"
    description = "Rolling volume-at-price: point of control and value area high/low."
    requires = ("high", "low", "close", "volume")
    params = (
        Param("period", "integer", 100, title="Window (bars)", min=2, max=5000, step=1, key=True),
        Param("bins", "integer", 24, title="Price Bins", min=2, max=500, step=1, key=True),
        Param(
            "value_area",
            "number",
            70,
            title="Value Area (%)",
            min=10,
            max=100,
            step=1,
            help="Share of the window's volume inside the value area.",
        ),
    )
    outputs = (
        Output("poc", "numeric", "point of control: price with the most volume", primary=True),
        Output("vah", "numeric", "value area high, price units"),
        Output("val", "numeric", "value area low, price units"),
        Output(
            "position",
            "categorical",
            "close above the value area, below it, or inside it",
            values=("above_value", "below_value", "in_value", "neutral"),
        ),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        period = config["period"]
        poc, vah, val = _rolling_profile(
            high,
            low,
            as_float(data, "volume"),
            rolling_max(high, period),
            rolling_min(low, period),
            period,
            config["bins"],
            config["value_area"] / 100.0,
        )
        return {
            "poc": poc,
            "vah": vah,
            "val": val,
            "position": lambda: band_position(close, vah, val, ("above_value", "below_value", "in_value", "neutral")),
        }
