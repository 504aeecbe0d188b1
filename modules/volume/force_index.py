"""Force Index (Alexander Elder, "Trading for a Living", 1993).

raw force = (close_t - close_{t-1}) * volume_t; Force Index = EMA(raw force, period) with
TA-Lib ``EMA`` (seeded with the SMA of the first ``period`` values), period 13 by default.
Units: price * volume. The first ``period`` bars are NaN. ``bias`` is "bullish" above zero
(buyers in control), "bearish" below.
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare
from modules.common.swings_sr import lag


class ForceIndex(BaseModule):
    module_id = "force_index"
    name = "Force Index"
    category = "volume"
    description = "EMA of price change times volume: the force behind a move."
    requires = ("close", "volume")
    params = (Param("period", "integer", 13, title="EMA Period", min=1, max=500, step=1, key=True),)
    outputs = (
        Output("value", "numeric", "Force Index, price change * volume", primary=True),
        Output("bias", "categorical", "bullish above zero, bearish below", values=("bullish", "bearish", "neutral")),
    )

    def compute(self, data, config):
        close = as_float(data, "close")
        raw = (close - lag(close)) * as_float(data, "volume")
        force = talib.EMA(raw, timeperiod=config["period"])
        with np.errstate(invalid="ignore"):
            bias = compare(force, 0, ("bullish", "bearish", "neutral"))
        return {"value": force, "bias": bias}
