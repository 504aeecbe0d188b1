"""VWAP, session-anchored Volume-Weighted Average Price, with standard-deviation bands.

typical price p = (high + low + close) / 3; within a session, VWAP_t = sum(p * volume) /
sum(volume) over the session's bars up to t, and the band half-width is ``band_mult`` times the
volume-weighted standard deviation of p around VWAP (the usual "VWAP bands"). A session is a
UTC day starting at ``session_start_hour`` (00:00 UTC by default), or a week starting with the
Monday session (Monday at that hour; Sunday for hours >= 12, the FX convention, e.g. Sunday
22:00). Sums reset at each session start; bars before any volume in a session are NaN.
Weighted mean/variance use West's (1979) incremental update (numerically stable). Price units.
Reference: Berkowitz, Logue & Noser, "The Total Cost of Transactions on the NYSE", 1988.
Sessions as ``modules.common.swings_sr.session_ids``, worked out bar by bar in the VWAP kernel
from the index's own integers (no nanosecond copy of the index, no array of session ids).
"""

import numpy as np
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import band_position, compare
from modules.common.swings_sr import utc_ticks


@njit(cache=True, nogil=True)
def _session_vwap(high, low, close, volume, ticks, per_second, start_hour, week, band_mult):
    """VWAP of the typical price (H+L+C)/3 since the session start (weighted running mean and
    variance), and the bands VWAP +/- band_mult * weighted std dev; NaN until the session has
    volume. Session of a bar: ``session_ids``' day or week number from its ``ticks``
    (``per_second`` a second), integer floor divisions as there."""
    n = close.shape[0]
    mean_out = np.empty(n)
    upper = np.empty(n)
    lower = np.empty(n)
    weight = 0.0
    mean = 0.0
    m2 = 0.0
    named = 1 if start_hour >= 12 else 0
    previous = 0
    for i in range(n):
        day = (ticks[i] // per_second - start_hour * 3600) // 86400
        session = (day + named + 3) // 7 if week else day
        if i == 0 or session != previous:
            weight = 0.0
            mean = 0.0
            m2 = 0.0
        previous = session
        w = volume[i]
        if w > 0.0:
            price = (high[i] + low[i] + close[i]) / 3.0
            weight += w
            delta = price - mean
            mean += delta * (w / weight)  # exactly price on the session's first volume
            m2 += w * delta * (price - mean)
        if weight > 0.0:
            std = np.sqrt(max(m2, 0.0) / weight)
            mean_out[i] = mean
            upper[i] = mean + band_mult * std
            lower[i] = mean - band_mult * std
        else:
            mean_out[i] = np.nan
            upper[i] = np.nan
            lower[i] = np.nan
    return mean_out, upper, lower


class VWAP(BaseModule):
    module_id = "vwap"
    name = "VWAP"
    category = "volume"
    description = "Volume-weighted average price since the session start, with deviation bands."
    requires = ("high", "low", "close", "volume")
    params = (
        Param(
            "anchor",
            "select",
            "day",
            title="Anchor",
            options=("day", "week"),
            key=True,
            help="Reset the VWAP every UTC day or every week (Monday).",
        ),
        Param(
            "session_start_hour",
            "integer",
            0,
            title="Session Start Hour (UTC)",
            min=0,
            max=23,
            step=1,
            key=True,
            help="Hour at which the day/week session starts, UTC.",
        ),
        Param("band_mult", "number", 1.0, title="Band Std Dev Multiplier", min=0.1, max=10, step=0.1),
    )
    outputs = (
        Output("value", "numeric", "VWAP, price units", primary=True),
        Output("upper", "numeric", "VWAP + band_mult * weighted std dev, price units"),
        Output("lower", "numeric", "VWAP - band_mult * weighted std dev, price units"),
        Output("position", "categorical", "close above or below the VWAP", values=("above", "below", "neutral")),
        Output(
            "zone",
            "categorical",
            "close above the upper band, below the lower band, or inside",
            values=("above_upper", "below_lower", "inside", "neutral"),
        ),
    )

    def compute(self, data, config):
        high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
        ticks, per_second = utc_ticks(data)
        vwap, upper, lower = _session_vwap(
            high,
            low,
            close,
            as_float(data, "volume"),
            ticks,
            per_second,
            config["session_start_hour"],
            config["anchor"] == "week",
            config["band_mult"],
        )
        return {
            "value": vwap,
            "upper": upper,
            "lower": lower,
            "position": lambda: compare(close, vwap, ("above", "below", "neutral")),
            "zone": lambda: band_position(close, upper, lower, ("above_upper", "below_lower", "inside", "neutral")),
        }
