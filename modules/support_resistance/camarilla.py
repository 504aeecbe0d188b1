"""Camarilla pivot levels (Nick Scott, 1989) from the previous completed UTC day.

With H, L, C the previous day's high, low and close and range = H - L:
R_k = C + range * 1.1 / d_k and S_k = C - range * 1.1 / d_k with d = 12, 6, 4, 2 for
k = 1..4; pivot P = (H + L + C) / 3. Price units. Camarilla traders fade moves inside S3..R3
and trade breakouts beyond R4 / S4. Days run from ``day_start_hour``:00 UTC; "previous" is
the last earlier day with bars; the first day in the data is NaN / "neutral".
"""

import numpy as np

from modules.base import BaseModule, Output, Param, as_float, labels_from_codes
from modules.common.swings_sr import previous_sessions, session_zone_codes

DIVISORS = {1: 12.0, 2: 6.0, 3: 4.0, 4: 2.0}
ZONES = ("above_r4", "r3_to_r4", "inside", "s4_to_s3", "below_s4", "neutral")


class Camarilla(BaseModule):
    module_id = "camarilla"
    name = "Camarilla Pivots"
    category = "support_resistance"
    description = "Camarilla equation levels R1-R4 / S1-S4 around yesterday's close."
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
        Output("pivot", "numeric", "(H + L + C) / 3 of the previous day, price units", primary=True),
        *(
            Output(f"{side}{k}", "numeric", f"{'resistance' if side == 'r' else 'support'} {k}, price units")
            for k in (1, 2, 3, 4)
            for side in ("r", "s")
        ),
        Output(
            "zone",
            "categorical",
            "close beyond R4 / S4 (breakout), between R3 and R4 or S4 and S3, or inside S3..R3",
            values=ZONES,
        ),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        # the levels of each session from the previous one's high, low and close, then repeated
        # over the session's bars (the same numbers as computed bar by bar)
        prev_high, prev_low, prev_close, lengths = previous_sessions(data, high, low, close, config["day_start_hour"])
        span = (prev_high - prev_low) * 1.1
        levels = {"pivot": (prev_high + prev_low + prev_close) / 3.0}
        for k, divisor in DIVISORS.items():
            levels[f"r{k}"] = prev_close + span / divisor
            levels[f"s{k}"] = prev_close - span / divisor
        out: dict = {name: np.repeat(values, lengths) for name, values in levels.items()}
        # R4, R3 (close strictly above), S3, S4 (at or above): 0 = above_r4 ... 4 = below_s4, 5 = neutral
        order = np.stack([levels["r4"], levels["r3"], levels["s3"], levels["s4"]])
        out["zone"] = lambda: labels_from_codes(
            session_zone_codes(close, lengths, order, 2, np.isnan(prev_close)), ZONES
        )
        return out
