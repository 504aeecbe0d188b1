"""OBV, On-Balance Volume (Joseph Granville, "Granville's New Key to Stock Market Profits", 1963).

OBV_t = OBV_{t-1} + volume_t if close_t > close_{t-1}, - volume_t if lower, unchanged if
equal; it starts at the first bar's volume (TA-Lib ``OBV``), so only its changes matter, not
its level. ``signal`` = SMA(OBV, signal_period) (TA-Lib ``SMA``); ``trend`` is "rising" when
OBV is above its signal (volume flowing in), "falling" below. Units: volume.
"""

import talib

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare


class OBV(BaseModule):
    module_id = "obv"
    name = "On-Balance Volume"
    category = "volume"
    description = "Running total of volume signed by the close-to-close direction."
    requires = ("close", "volume")
    params = (Param("signal_period", "integer", 20, title="Signal SMA Period", min=2, max=1000, step=1, key=True),)
    outputs = (
        Output("value", "numeric", "OBV, volume units (cumulative from the first bar)", primary=True),
        Output("signal", "numeric", "SMA of OBV, volume units"),
        Output(
            "trend",
            "categorical",
            "OBV above (rising) or below (falling) its signal",
            values=("rising", "falling", "neutral"),
        ),
    )

    def compute(self, data, config):
        obv = talib.OBV(as_float(data, "close"), as_float(data, "volume"))
        signal = talib.SMA(obv, timeperiod=config["signal_period"])
        return {"value": obv, "signal": signal, "trend": lambda: compare(obv, signal, ("rising", "falling", "neutral"))}
