"""ADX, Average Directional Index, with +DI / -DI (J. Welles Wilder, 1978).

+DM/-DM = directional movement of highs/lows, TR = true range, each Wilder-smoothed over
``period``; +DI = 100 * +DM / TR, -DI = 100 * -DM / TR; DX = 100 * |+DI - -DI| / (+DI + -DI);
ADX = Wilder smoothing of DX. Values 0-100. Computed with TA-Lib ``PLUS_DI`` and ``MINUS_DI``;
ADX is NaN for the first ``2 * period - 1`` bars. ADX is TA-Lib ``ADX``'s DX and smoothing done in
one Numba pass over those two (the same +DI / -DI that ``ADX`` computes inside), instead of a
third TA-Lib call that would derive them again.
``trend`` is uptrend/downtrend when ADX >= ``threshold`` and +DI is above/below -DI, else no_trend.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes

TRENDS = ("uptrend", "downtrend", "no_trend")

#: TA-Lib's TA_IS_ZERO bound (TA_EPSILON): a +DI + -DI within it adds no DX to the ADX
_TA_EPSILON = 1e-14


@njit(cache=True, nogil=True)
def _adx(high, low, close, plus_di, minus_di, period):
    """TA-Lib ``ADX`` from ``PLUS_DI`` and ``MINUS_DI`` of the same bars and period: DX =
    100 * (|-DI - +DI| / (-DI + +DI)), skipped where that sum is (near) 0; the first ADX is the
    mean of ``period`` DX from TA-Lib's first bar with all three prices + ``period``, then
    ``(ADX * (period - 1) + DX) / period``. The same float operations in the same order."""
    n = plus_di.shape[0]
    out = np.empty(n)
    first = 0  # TA-Lib's start: the first bar where none of the three is NaN (else the last bar)
    while first < n - 1 and (np.isnan(high[first]) or np.isnan(low[first]) or np.isnan(close[first])):
        first += 1
    seed_end = min(first + 2 * period - 1, n)
    out[:seed_end] = np.nan
    if seed_end >= n:
        return out
    total = 0.0
    for t in range(first + period, seed_end + 1):
        di_sum = minus_di[t] + plus_di[t]
        if not (-_TA_EPSILON < di_sum < _TA_EPSILON):
            total += 100.0 * (abs(minus_di[t] - plus_di[t]) / di_sum)
    adx = total / period
    out[seed_end] = adx
    for t in range(seed_end + 1, n):
        di_sum = minus_di[t] + plus_di[t]
        if not (-_TA_EPSILON < di_sum < _TA_EPSILON):
            adx = (adx * (period - 1) + 100.0 * (abs(minus_di[t] - plus_di[t]) / di_sum)) / period
        out[t] = adx
    return out


@njit(cache=True, nogil=True)
def _trend_codes(adx, plus_di, minus_di, threshold):
    """TRENDS codes, one branchless pass: 0 where ADX >= ``threshold`` and +DI > -DI, 1 where
    ADX >= ``threshold`` and -DI > +DI, else 2 (NaN compares false: 2)."""
    out = np.empty(adx.shape[0], dtype=np.int8)
    for t in range(adx.shape[0]):
        strong = adx[t] >= threshold
        up = strong & (plus_di[t] > minus_di[t])
        down = strong & (minus_di[t] > plus_di[t])
        out[t] = 2 - 2 * np.int8(up) - np.int8(down)
    return out


class ADX(BaseModule):
    module_id = "adx"
    name = "ADX"
    category = "trend"
    description = "Average Directional Index: trend strength 0-100, with +DI/-DI for direction."
    params = (
        Param("period", "integer", 14, title="ADX Period", min=2, max=500, step=1, key=True),
        Param(
            "threshold",
            "number",
            25,
            title="Trend Threshold",
            min=0,
            max=100,
            step=1,
            help="ADX at or above this level counts as a trending market.",
        ),
    )
    outputs = (
        Output("adx", "numeric", "ADX, trend strength 0-100", primary=True),
        Output("plus_di", "numeric", "+DI, upward directional indicator 0-100"),
        Output("minus_di", "numeric", "-DI, downward directional indicator 0-100"),
        Output(
            "trend",
            "categorical",
            "uptrend / downtrend when ADX >= threshold, else no_trend",
            values=TRENDS,
        ),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        period = config["period"]
        plus_di = talib.PLUS_DI(high, low, close, timeperiod=period)
        minus_di = talib.MINUS_DI(high, low, close, timeperiod=period)
        adx = _adx(high, low, close, plus_di, minus_di, period)

        return {
            "adx": adx,
            "plus_di": plus_di,
            "minus_di": minus_di,
            "trend": lambda: labels_from_codes(
                _trend_codes(adx, plus_di, minus_di, float(config["threshold"])), TRENDS
            ),
        }
