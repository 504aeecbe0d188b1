"""CMF, Chaikin Money Flow (Marc Chaikin).

MFM = ((close - low) - (high - close)) / (high - low), 0 when high == low;
CMF = sum(MFM * volume, period) / sum(volume, period), between -1 and 1 (NaN if the window
has no volume). Rolling sums with TA-Lib ``SUM``; the first ``period - 1`` bars are NaN.
``pressure`` is "buying" above +threshold, "selling" below -threshold, else "neutral".
"""

import numpy as np
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes


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
        period = config["period"]
        flow = _money_flow(high, low, close, volume)
        flow_sum = flow if period == 1 else talib.SUM(flow, timeperiod=period)
        volume_sum = volume if period == 1 else talib.SUM(volume, timeperiod=period)
        cmf, pressure = _cmf(flow_sum, volume_sum, config["threshold"], -config["threshold"])
        return {"value": cmf, "pressure": labels_from_codes(pressure, ("buying", "selling", "neutral"))}


@njit(cache=True, nogil=True)
def _money_flow(high, low, close, volume):
    """Money-flow volume: ((close - low) - (high - close)) / (high - low) * volume, the
    multiplier 0 where the bar has no range."""
    n = close.shape[0]
    flow = np.empty(n)
    for t in range(n):
        span = high[t] - low[t]
        multiplier = ((close[t] - low[t]) - (high[t] - close[t])) / span if span > 0 else 0.0
        flow[t] = multiplier * volume[t]
    return flow


@njit(cache=True, nogil=True)
def _cmf(flow_sum, volume_sum, buying, selling):
    """CMF (NaN where the window has no volume) and the pressure code: 0 buying (above
    ``buying``), 1 selling (below ``selling``), 2 neutral."""
    n = flow_sum.shape[0]
    cmf = np.empty(n)
    pressure = np.empty(n, dtype=np.int8)
    for t in range(n):
        value = flow_sum[t] / volume_sum[t] if volume_sum[t] > 0 else np.nan
        cmf[t] = value
        pressure[t] = 0 if value > buying else (1 if value < selling else 2)
    return cmf, pressure
