"""ICT kill zones: the intraday windows in New York time when the big moves tend to start.

Windows (New York local time, start inclusive, end exclusive; Huddleston, ICT Mentorship):

* ``asia``: 20:00-00:00
* ``london_open``: 02:00-05:00
* ``ny_open``: 07:00-10:00
* ``london_close``: 10:00-12:00

Times are converted from UTC with the ``America/New_York`` zone (``zoneinfo``), so daylight
saving is handled: London open is 07:00 UTC in winter and 06:00 UTC in summer. A bar belongs to
the window containing its timestamp (the bar's open time). ``zone`` names the window the bar is
in (``none`` outside them); ``in_zone`` (primary) is true inside the configured window:
one of the four, ``any`` of them, or ``custom`` hours (``custom_start`` to ``custom_end``, in
New York hours, e.g. 8.5 = 08:30; a window may wrap past midnight). Known at the bar's open.
"""

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from modules.base import BaseModule, Output, Param
from modules.errors import ModuleConfigError, ModuleDataError

from ._zones import codes_to_labels

NEW_YORK = ZoneInfo("America/New_York")
#: (name, start minute, end minute) in New York local time.
WINDOWS = (
    ("asia", 20 * 60, 24 * 60),
    ("london_open", 2 * 60, 5 * 60),
    ("ny_open", 7 * 60, 10 * 60),
    ("london_close", 10 * 60, 12 * 60),
)
ZONE_VALUES = tuple(w[0] for w in WINDOWS) + ("none",)


def new_york_minutes(index: pd.DatetimeIndex) -> np.ndarray:
    """Minute of the day (0-1439) in New York local time for each UTC timestamp."""
    if not isinstance(index, pd.DatetimeIndex):
        raise ModuleDataError("kill_zones needs a DatetimeIndex")
    if index.tz is None:
        index = index.tz_localize("UTC")
    wall = index.tz_convert(NEW_YORK).tz_localize(None).as_unit("s").asi8
    return (wall // 60) % 1440


def in_window(minutes: np.ndarray, start: float, end: float) -> np.ndarray:
    """Inside ``[start, end)`` minutes of the day, wrapping past midnight if ``start > end``."""
    if start <= end:
        return (minutes >= start) & (minutes < end)
    return (minutes >= start) | (minutes < end)


def _custom_window(config) -> tuple[float, float]:
    """Custom hours as (start, end) minutes of the day; an end of 24:00 stays 1440."""
    return config["custom_start"] * 60 % 1440, config["custom_end"] * 60


class KillZones(BaseModule):
    module_id = "kill_zones"
    name = "ICT Kill Zones"
    category = "ict"
    description = (
        "Asian, London open, New York open and London close kill zones in New York "
        "time (daylight saving handled), or custom hours."
    )
    requires = ()
    params = (
        Param(
            "zone",
            "select",
            "any",
            title="Kill Zone",
            key=True,
            options=("any", "asia", "london_open", "ny_open", "london_close", "custom"),
            help="Window that sets in_zone: one kill zone, any of them, or custom hours.",
        ),
        Param(
            "custom_start",
            "number",
            8.5,
            title="Custom Start (NY hour)",
            min=0,
            max=24,
            step=0.25,
            help="Used when zone = custom, e.g. 8.5 = 08:30 New York.",
        ),
        Param(
            "custom_end",
            "number",
            11.0,
            title="Custom End (NY hour)",
            min=0,
            max=24,
            step=0.25,
            help="Used when zone = custom; before the start = wraps past midnight.",
        ),
    )
    outputs = (
        Output("in_zone", "boolean", "inside the configured kill zone", primary=True),
        Output("zone", "categorical", "the kill zone this bar is in", values=ZONE_VALUES),
    )

    @classmethod
    def check_config(cls, config):
        if config["zone"] == "custom" and _custom_window(config)[0] == _custom_window(config)[1]:
            raise ModuleConfigError(cls.module_id, "custom_end", "must differ from custom_start")

    def compute(self, data, config):
        minutes = new_york_minutes(data.index)
        code = np.full(len(minutes), len(WINDOWS), dtype=np.int8)
        for i, (_, start, end) in enumerate(WINDOWS):
            code[in_window(minutes, start, end)] = i
        zone = config["zone"]
        if zone == "any":
            in_zone = code < len(WINDOWS)
        elif zone == "custom":
            in_zone = in_window(minutes, *_custom_window(config))
        else:
            in_zone = code == ZONE_VALUES.index(zone)
        return {"in_zone": np.asarray(in_zone, dtype=bool), "zone": codes_to_labels(code, ZONE_VALUES)}
