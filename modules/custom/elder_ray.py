"""Elder-Ray Index (Alexander Elder, "Trading for a Living", 1993).

EMA = EMA(close, period) (TA-Lib, 13 by default); Bull Power = high - EMA, Bear Power =
low - EMA, in price units. NaN for the first ``period - 1`` bars. Elder's signals:
"buy" when the EMA is rising and Bear Power is negative but rising, "sell" when the EMA is
falling and Bull Power is positive but falling; otherwise "neutral".
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import labels
from modules.common.swings_sr import lag


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
        bull, bear = high - ema, low - ema

        with np.errstate(invalid="ignore"):
            ema_up, ema_down = ema > lag(ema), ema < lag(ema)
            buy = ema_up & (bear < 0) & (bear > lag(bear))
            sell = ema_down & (bull > 0) & (bull < lag(bull))
        signal = labels([(buy, "buy"), (sell, "sell")], len(close), "neutral")
        return {"bull_power": bull, "bear_power": bear, "ema": ema, "signal": signal}
