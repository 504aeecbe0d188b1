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
from modules.common.swings_sr import previous_sessions, session_zone_codes

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
        # the levels of each session from the previous one's high, low and close, then repeated
        # over the session's bars (the same numbers as computed bar by bar)
        prev_high, prev_low, prev_close, lengths = previous_sessions(data, high, low, close, config["day_start_hour"])
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
        out: dict = {name: np.repeat(values, lengths) for name, values in levels.items()}
        # (a lambda reading out["pivot"] would make a reference cycle with out, freed only by the
        # garbage collector: the arrays would stay allocated after use)
        pivot = out["pivot"]
        out["bias"] = lambda: position(close, pivot)
        # levels ordered s3 <= s2 <= s1 <= P <= r1 <= r2 <= r3; the close strictly above r3..r1,
        # at or above P..s3: 0 = above_r3 ... 7 = below_s3, 8 = neutral (no pivot)
        order = np.stack([levels[name] for name in ("r3", "r2", "r1", "pivot", "s1", "s2", "s3")])
        out["zone"] = lambda: labels_from_codes(session_zone_codes(close, lengths, order, 3, np.isnan(p)), ZONES)
        return out
