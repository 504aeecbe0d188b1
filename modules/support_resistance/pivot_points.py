"""Classic (floor trader) pivot points from the previous completed UTC day.

With H, L, C the previous day's high, low and close: P = (H + L + C) / 3,
R1 = 2P - L, S1 = 2P - H, R2 = P + (H - L), S2 = P - (H - L), R3 = H + 2 (P - L),
S3 = L - 2 (H - P). Price units. A day runs from ``day_start_hour``:00 UTC (0 = midnight;
22 matches the FX New York close); "previous" is the last earlier day with bars (Friday for a
Monday on weekend-closed markets). Bars of the first day in the data have no pivots (NaN), and
a day's own bars never enter its pivots. Reference: Thomas Aspray / floor-trader pivots, e.g.
Kase, "Trading with the Odds" (1996).
"""

import numpy as np

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.common.series import position
from modules.common.swings_sr import previous_session_hlc

ZONES = (
    "above_r3",
    "r2_to_r3",
    "r1_to_r2",
    "pivot_to_r1",
    "s1_to_pivot",
    "s2_to_s1",
    "s3_to_s2",
    "below_s3",
    "neutral",
)


class PivotPoints(BaseModule):
    module_id = "pivot_points"
    name = "Pivot Points (Classic)"
    category = "support_resistance"
    description = "Daily floor-trader pivot, resistance and support levels from yesterday's bar."
    params = (
        Param(
            "day_start_hour",
            "integer",
            0,
            title="Day Start Hour (UTC)",
            min=0,
            max=23,
            step=1,
            help="Hour (UTC) at which a trading day starts.",
        ),
    )
    outputs = (
        Output("pivot", "numeric", "pivot P, price units", primary=True),
        Output("r1", "numeric", "resistance 1, price units"),
        Output("s1", "numeric", "support 1, price units"),
        Output("r2", "numeric", "resistance 2, price units"),
        Output("s2", "numeric", "support 2, price units"),
        Output("r3", "numeric", "resistance 3, price units"),
        Output("s3", "numeric", "support 3, price units"),
        Output("bias", "categorical", "close above or below the pivot", values=("above", "below", "neutral")),
        Output("zone", "categorical", "which pair of levels the close is between", values=ZONES),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        prev_high, prev_low, prev_close = previous_session_hlc(data, high, low, close, config["day_start_hour"])
        p = (prev_high + prev_low + prev_close) / 3.0
        levels = {
            "pivot": p,
            "r1": 2 * p - prev_low,
            "s1": 2 * p - prev_high,
            "r2": p + (prev_high - prev_low),
            "s2": p - (prev_high - prev_low),
            "r3": prev_high + 2 * (p - prev_low),
            "s3": prev_low - 2 * (prev_high - p),
        }
        with np.errstate(invalid="ignore"):
            # levels are ordered s3 <= s2 <= s1 <= P <= r1 <= r2 <= r3: count those below close
            code = (
                (close > levels["r3"]).astype(np.int8)
                + (close > levels["r2"])
                + (close > levels["r1"])
                + (close >= p)
                + (close >= levels["s1"])
                + (close >= levels["s2"])
                + (close >= levels["s3"])
            )
        code[np.isnan(p)] = -1
        # code 7 = above_r3 ... 0 = below_s3, -1 = neutral
        zone = labels_from_codes(7 - code, ZONES)
        return {**levels, "bias": position(close, p), "zone": zone}
