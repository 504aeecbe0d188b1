"""Elder-Ray Index (Alexander Elder, "Trading for a Living", 1993).

EMA = EMA(close, period) (TA-Lib, 13 by default); Bull Power = high - EMA, Bear Power =
low - EMA, in price units. NaN for the first ``period - 1`` bars. Elder's signals:
"buy" when the EMA is rising and Bear Power is negative but rising, "sell" when the EMA is
falling and Bull Power is positive but falling; otherwise "neutral".
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes


class ElderRay(BaseModule):
    module_id = "elder_ray"
    name = "Elder-Ray Index"
    category = "custom"
    description = "Bull and Bear Power: how far highs and lows reach beyond the EMA."
    params = (Param("period", "integer", 13, title="EMA Period", min=1, max=500, step=1, key=True),)
    outputs = (
        Output("bull_power", "numeric", "high - EMA, price units", primary=True),
        Output("bear_power", "numeric", "low - EMA, price units"),
        Output("ema", "numeric", "EMA of close, price units"),
        Output("signal", "categorical", "Elder's buy / sell setups", values=("buy", "sell", "neutral")),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        ema = talib.EMA(close, config["period"])
        bull, bear, signal = _elder_ray(high, low, ema)
        return {
            "bull_power": bull,
            "bear_power": bear,
            "ema": ema,
            "signal": labels_from_codes(signal, ("buy", "sell", "neutral")),
        }


@njit(cache=True, nogil=True)
def _elder_ray(high, low, ema):
    """Bull power (high - EMA), bear power (low - EMA) and the setup code: 0 buy (EMA rising,
    bear power negative and rising), 1 sell (EMA falling, bull power positive and falling),
    2 neutral (and on the first bar). Branchless (bitwise ``&`` on the flags): the setups are
    coin tosses that branches mispredict."""
    n = ema.shape[0]
    bull = np.empty(n)
    bear = np.empty(n)
    signal = np.empty(n, dtype=np.int8)
    if n:
        bull[0] = high[0] - ema[0]
        bear[0] = low[0] - ema[0]
        signal[0] = 2
    for t in range(1, n):
        bull_t = high[t] - ema[t]
        bear_t = low[t] - ema[t]
        bull[t] = bull_t
        bear[t] = bear_t
        buy = (ema[t] > ema[t - 1]) & (bear_t < 0) & (bear_t > bear[t - 1])
        sell = (ema[t] < ema[t - 1]) & (bull_t > 0) & (bull_t < bull[t - 1])
        signal[t] = 2 - 2 * np.int8(buy) - np.int8(sell)  # never both: the EMA rises or falls
    return bull, bear, signal
