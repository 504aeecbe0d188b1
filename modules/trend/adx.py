"""ADX, Average Directional Index, with +DI / -DI (J. Welles Wilder, 1978).

+DM/-DM = directional movement of highs/lows, TR = true range, each Wilder-smoothed over
``period``; +DI = 100 * +DM / TR, -DI = 100 * -DM / TR; DX = 100 * |+DI - -DI| / (+DI + -DI);
ADX = Wilder smoothing of DX. Values 0-100. Computed with TA-Lib ``ADX``, ``PLUS_DI`` and
``MINUS_DI``; ADX is NaN for the first ``2 * period - 1`` bars.
``trend`` is uptrend/downtrend when ADX >= ``threshold`` and +DI is above/below -DI, else no_trend.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import labels


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
            values=("uptrend", "downtrend", "no_trend"),
        ),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        period = config["period"]
        adx = talib.ADX(high, low, close, timeperiod=period)
        plus_di = talib.PLUS_DI(high, low, close, timeperiod=period)
        minus_di = talib.MINUS_DI(high, low, close, timeperiod=period)

        def trend():  # computed only if asked for
            strong = adx >= config["threshold"]
            return labels(
                [(strong & (plus_di > minus_di), "uptrend"), (strong & (minus_di > plus_di), "downtrend")],
                len(adx),
                "no_trend",
            )

        return {"adx": adx, "plus_di": plus_di, "minus_di": minus_di, "trend": trend}
