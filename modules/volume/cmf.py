"""CMF, Chaikin Money Flow (Marc Chaikin).

MFM = ((close - low) - (high - close)) / (high - low), 0 when high == low;
CMF = sum(MFM * volume, period) / sum(volume, period), between -1 and 1 (NaN if the window
has no volume). Rolling sums with TA-Lib ``SUM``; the first ``period - 1`` bars are NaN.
``pressure`` is "buying" above +threshold, "selling" below -threshold, else "neutral".
"""

import numpy as np
import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import labels


class CMF(BaseModule):
    module_id = "cmf"
    name = "Chaikin Money Flow"
    category = "volume"
    description = "Volume-weighted average of where bars close in their range, -1 to 1."
    requires = ("high", "low", "close", "volume")
    params = (
        Param("period", "integer", 20, title="Period", min=1, max=1000, step=1, key=True),
        Param(
            "threshold",
            "number",
            0.05,
            title="Pressure Threshold",
            min=0,
            max=1,
            step=0.01,
            help="CMF above +threshold = buying pressure, below -threshold = selling.",
        ),
    )
    outputs = (
        Output("value", "numeric", "CMF, -1 to 1", primary=True),
        Output(
            "pressure",
            "categorical",
            "buying / selling pressure by the threshold",
            values=("buying", "selling", "neutral"),
        ),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        volume = as_float(data, "volume")
        span = high - low
        with np.errstate(invalid="ignore", divide="ignore"):
            mfm = np.where(span > 0, ((close - low) - (high - close)) / span, 0.0)
        period = config["period"]
        flow = mfm * volume
        flow_sum = flow if period == 1 else talib.SUM(flow, timeperiod=period)
        volume_sum = volume if period == 1 else talib.SUM(volume, timeperiod=period)
        with np.errstate(invalid="ignore", divide="ignore"):
            cmf = np.where(volume_sum > 0, flow_sum / volume_sum, np.nan)
            pressure = labels(
                [(cmf > config["threshold"], "buying"), (cmf < -config["threshold"], "selling")], len(cmf), "neutral"
            )
        return {"value": cmf, "pressure": pressure}
