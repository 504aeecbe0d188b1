"""volume_profile's kernel as it was before the ``vprofile`` helper's rewrites (issue 19), kept
verbatim but for names: the module's outputs must equal it bit for bit (test_rewrites.py holds
an older reference and its datasets; this file adds configs that reach each update path and data
with fractional, zero and missing volumes)."""

import numpy as np
import pandas as pd
import pytest
from numba import njit

from modules.base import as_float
from modules.common.series import band_position
from modules.common.swings_sr import rolling_max, rolling_min
from modules.tests.test_rewrites import DATASETS, assert_same_outputs, random_bars
from modules.volume.volume_profile import MASKED_BINS


@njit(inline="always")
def _spread_main(hist, low, high, volume, bottom, scale, bins, sign):
    """Add (sign=1) or remove (sign=-1) one bar's volume, spread evenly over its bins."""
    a = min(int((low - bottom) * scale), bins - 1)
    b = min(int((high - bottom) * scale), bins - 1)
    share = sign * volume / (b - a + 1)
    for k in range(a + 2, b + 3):
        hist[k] += share


@njit(inline="always")
def _point_of_control_main(hist, bins, tol):
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


@njit
def _rolling_profile_main(high, low, volume, win_high, win_low, period, bins, va_frac):
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
            if volume[out] > 0.0:
                _spread_main(hist, low[out], high[out], volume[out], bottom, scale, bins, -1.0)
                total -= volume[out]
            if volume[t] > 0.0:
                _spread_main(hist, low[t], high[t], volume[t], bottom, scale, bins, 1.0)
                total += volume[t]
        else:
            # rebuild with a difference array: +share at the first bin, -share past the last
            edges[:] = 0.0
            total = 0.0
            first = t - period + 1
            # each bar's first and last bin in a loop of its own (vector code), then the
            # additions in bar order as before
            for i in range(period):
                first_bin[i] = min(int((low[first + i] - bottom) * scale), bins - 1)
                last_bin[i] = min(int((high[first + i] - bottom) * scale), bins - 1)
            for i in range(period):
                v = volume[first + i]
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
        best = _point_of_control_main(hist, bins, tol)
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


def volume_profile_main(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    period = config["period"]
    poc, vah, val = _rolling_profile_main(
        high,
        low,
        as_float(data, "volume"),
        rolling_max(high, period),
        rolling_min(low, period),
        period,
        config["bins"],
        config["value_area"] / 100.0,
    )
    position = band_position(close, vah, val, ("above_value", "below_value", "in_value", "neutral"))
    return {"poc": poc, "vah": vah, "val": val, "position": position}


def fractional_volumes(n: int, seed: int) -> pd.DataFrame:
    """Bars whose volumes are not whole numbers (sums depend on their order), some 0 or NaN,
    one huge."""
    data = random_bars(n, seed, nan_rows=10, gaps=3)
    rng = np.random.default_rng(seed)
    volume = rng.lognormal(2.0, 1.5, n)
    volume[rng.integers(0, n, n // 20)] = 0.0
    volume[rng.integers(0, n, 5)] = np.nan
    volume[n // 2] = 1e15
    return data.assign(volume=volume)


DATA = {**DATASETS, "fractional": lambda: fractional_volumes(5000, 11)}
CONFIGS = [
    {},
    {"period": 2, "bins": 2},
    {"period": 30, "bins": 7, "value_area": 100},
    {"bins": 61, "value_area": 10},
    {"period": 500, "bins": 200},  # past MASKED_BINS: the bars' own loops
    {"period": 20, "bins": MASKED_BINS, "value_area": 95},
    {"period": 20, "bins": MASKED_BINS + 1, "value_area": 95},
    {"period": 5000, "bins": 3},
]


@pytest.mark.parametrize("dataset", DATA)
@pytest.mark.parametrize("config", CONFIGS)
def test_volume_profile_same_as_main_kernel(dataset, config):
    assert_same_outputs("volume_profile", DATA[dataset](), config, volume_profile_main)
