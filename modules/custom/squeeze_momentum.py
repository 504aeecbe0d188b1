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
falling / rising (compared with the previous bar, 0 before the first value).
"""
import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.swings_sr import lag

MOMENTUM_STATES = ("bull_rising", "bull_falling", "bear_falling", "bear_rising", "neutral")
SQUEEZES = ("on", "off", "no_squeeze", "neutral")
STATE_NAMES = np.array(MOMENTUM_STATES, dtype=object)
SQUEEZE_NAMES = np.array(SQUEEZES, dtype=object)


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
        Param("use_true_range", "boolean", True, title="Use True Range",
              help="Keltner width from the true range; off = high - low."),
    )
    outputs = (
        Output("momentum", "numeric", "momentum histogram, price units", primary=True),
        Output("squeeze", "categorical", "on: BB inside KC; off: BB outside KC; else no_squeeze",
               values=SQUEEZES),
        Output("fired", "boolean", "the squeeze was on the bar before and is not now"),
        Output("momentum_state", "categorical", "sign of momentum and its change",
               values=MOMENTUM_STATES),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        bb_len, kc_len = config["bb_length"], config["kc_length"]
        basis = talib.SMA(close, bb_len)
        dev = config["bb_mult"] * talib.STDDEV(close, bb_len, 1.0)
        upper_bb, lower_bb = basis + dev, basis - dev
        ma = talib.SMA(close, kc_len)
        span = talib.TRANGE(high, low, close) if config["use_true_range"] else high - low
        range_ma = talib.SMA(span, kc_len)
        upper_kc, lower_kc = ma + config["kc_mult"] * range_ma, ma - config["kc_mult"] * range_ma
        mid = ((talib.MAX(high, kc_len) + talib.MIN(low, kc_len)) / 2.0 + ma) / 2.0
        momentum = talib.LINEARREG(close - mid, kc_len)
        with np.errstate(invalid="ignore"):
            on = (lower_bb > lower_kc) & (upper_bb < upper_kc)
            off = (lower_bb < lower_kc) & (upper_bb > upper_kc)
            squeeze = np.where(on, 0, np.where(off, 1, 2)).astype(np.int8)
            squeeze[np.isnan(upper_bb) | np.isnan(upper_kc)] = 3
            fired = lag(on, fill=False) & ~on
            prev = lag(momentum, fill=0.0)
            prev[np.isnan(prev)] = 0.0
            state = np.where(momentum > 0, np.where(momentum > prev, 0, 1),
                             np.where(momentum < prev, 2, 3)).astype(np.int8)
            state[np.isnan(momentum)] = 4
        return {"momentum": momentum, "squeeze": SQUEEZE_NAMES.take(squeeze), "fired": fired,
                "momentum_state": STATE_NAMES.take(state)}
