"""Squeeze Momentum (LazyBear's TradingView script, after John Carter's TTM Squeeze,
"Mastering the Trade", 2005).

Bollinger Bands: SMA(close, bb_length) +/- bb_mult * population std dev; Keltner Channels:
SMA(close, kc_length) +/- kc_mult * SMA(range, kc_length), range = true range (or high - low
if ``use_true_range`` is off). Squeeze "on" when both Bollinger bands are inside the Keltner
channel, "off" when both are outside, "no_squeeze" otherwise; ``fired`` is True on the bar a
squeeze ends. Momentum = linear-regression value (TA-Lib ``LINEARREG``, kc_length bars) of
close - ((highest high + lowest low) / 2 + SMA(close)) / 2 over kc_length: price units.
LazyBear's script multiplies the Bollinger std dev by the *Keltner* multiplier (1.5); here
``bb_mult`` is used (set it to 1.5 to reproduce the script). TA-Lib SMA, STDDEV, TRANGE, MAX,
MIN. The histogram colours map to ``momentum_state``: above zero rising / falling, below zero
falling / rising (compared with the previous bar, 0 before the first value). The band
comparisons and labels run in one Numba pass over TA-Lib's averages.
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes

MOMENTUM_STATES = ("bull_rising", "bull_falling", "bear_falling", "bear_rising", "neutral")
SQUEEZES = ("on", "off", "no_squeeze", "neutral")


@njit(cache=True, nogil=True)
def _detrended(close, highest, lowest, ma):
    """close - ((highest + lowest) / 2 + ma) / 2, the series LINEARREG smooths."""
    out = np.empty(close.shape[0])
    for t in range(close.shape[0]):
        out[t] = close[t] - ((highest[t] + lowest[t]) / 2.0 + ma[t]) / 2.0
    return out


@njit(cache=True, nogil=True)
def _labels(basis, std, bb_mult, ma, range_ma, kc_mult, momentum):
    """Squeeze codes (SQUEEZES), ``fired`` and momentum-state codes (MOMENTUM_STATES).

    Bands as in the formula: basis +/- bb_mult * std, ma +/- kc_mult * range_ma."""
    n = basis.shape[0]
    squeeze = np.empty(n, dtype=np.int8)
    fired = np.empty(n, dtype=np.bool_)
    state = np.empty(n, dtype=np.int8)
    was_on = False
    prev = 0.0
    for t in range(n):
        dev = bb_mult * std[t]
        upper_bb = basis[t] + dev
        lower_bb = basis[t] - dev
        upper_kc = ma[t] + kc_mult * range_ma[t]
        lower_kc = ma[t] - kc_mult * range_ma[t]
        on = (lower_bb > lower_kc) and (upper_bb < upper_kc)
        off = (lower_bb < lower_kc) and (upper_bb > upper_kc)
        if np.isnan(upper_bb) or np.isnan(upper_kc):
            squeeze[t] = 3
        else:
            squeeze[t] = 0 if on else (1 if off else 2)
        fired[t] = was_on and not on
        was_on = on
        m = momentum[t]
        if np.isnan(m):
            state[t] = 4
        elif m > 0:
            state[t] = 0 if m > prev else 1
        else:
            state[t] = 2 if m < prev else 3
        prev = 0.0 if np.isnan(m) else m
    return squeeze, fired, state


class SqueezeMomentum(BaseModule):
    module_id = "squeeze_momentum"
    name = "Squeeze Momentum"
    category = "custom"
    description = "TTM-style squeeze (Bollinger inside Keltner) and a momentum histogram."
    params = (
        Param("bb_length", "integer", 20, title="BB Length", min=2, max=500, step=1, key=True),
        Param("bb_mult", "number", 2.0, title="BB Std Dev Multiplier", min=0.1, max=10, step=0.1),
        Param("kc_length", "integer", 20, title="KC Length", min=2, max=500, step=1, key=True),
        Param("kc_mult", "number", 1.5, title="KC Range Multiplier", min=0.1, max=10, step=0.1),
        Param(
            "use_true_range",
            "boolean",
            True,
            title="Use True Range",
            help="Keltner width from the true range; off = high - low.",
        ),
    )
    outputs = (
        Output("momentum", "numeric", "momentum histogram, price units", primary=True),
        Output("squeeze", "categorical", "on: BB inside KC; off: BB outside KC; else no_squeeze", values=SQUEEZES),
        Output("fired", "boolean", "the squeeze was on the bar before and is not now"),
        Output("momentum_state", "categorical", "sign of momentum and its change", values=MOMENTUM_STATES),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        bb_len, kc_len = config["bb_length"], config["kc_length"]
        basis = talib.SMA(close, bb_len)
        std = talib.STDDEV(close, bb_len, 1.0)
        ma = basis if kc_len == bb_len else talib.SMA(close, kc_len)
        span = talib.TRANGE(high, low, close) if config["use_true_range"] else high - low
        range_ma = talib.SMA(span, kc_len)
        momentum = talib.LINEARREG(_detrended(close, talib.MAX(high, kc_len), talib.MIN(low, kc_len), ma), kc_len)
        squeeze, fired, state = _labels(basis, std, config["bb_mult"], ma, range_ma, config["kc_mult"], momentum)
        return {
            "momentum": momentum,
            "squeeze": labels_from_codes(squeeze, SQUEEZES),
            "fired": fired,
            "momentum_state": labels_from_codes(state, MOMENTUM_STATES),
        }
