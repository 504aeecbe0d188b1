"""Financing per bar (pure): what a position held over a bar's close pays, as a fraction of its
notional at that close, from the instrument's swap, borrow or funding terms.

An event at time T (a rollover, a funding time) is charged at the close of the bar t with
open[t] < T <= open[t + 1]: a position still open after that close is held over T. The data's last
bar closes every position, so it is never charged. The times:

- ``swap`` (FX, metals, CFDs): 17:00 America/New_York, Monday to Friday; Wednesday's rollover
  counts three nights (the weekend's value dates);
- ``borrow`` (stocks, shorts only): 17:00 America/New_York, Monday to Friday, Friday's counting
  three nights (the weekend); per night borrow_pct / 360 %;
- ``funding`` (perpetual futures): 00:00, 08:00 and 16:00 UTC every day; a long pays funding_pct %,
  a short earns it (a negative rate the other way round).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .instrument import Instrument

ROLLOVER_ZONE = "America/New_York"
ROLLOVER_TIME = pd.Timedelta(hours=17)
FUNDING_HOURS = (0, 8, 16)
WEDNESDAY, FRIDAY = 2, 4


def financing_events(
    start: pd.Timestamp, end: pd.Timestamp, instrument: Instrument
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The financing times in [start, end] (UTC) and each one's weight in nights (or funding
    periods) for the instrument's kind; empty for ``none``."""
    kind = instrument.financing
    if kind == "funding":
        hours = pd.date_range(start.floor("8h"), end.ceil("8h"), freq="8h", tz="UTC")
        times = hours[hours.hour.isin(FUNDING_HOURS)]
        return times, np.ones(len(times))
    if kind not in ("swap", "borrow"):
        return pd.DatetimeIndex([], tz="UTC"), np.zeros(0)
    local_start = start.tz_convert(ROLLOVER_ZONE).normalize().tz_localize(None) - pd.Timedelta(days=1)
    local_end = end.tz_convert(ROLLOVER_ZONE).normalize().tz_localize(None) + pd.Timedelta(days=1)
    days = pd.date_range(local_start, local_end, freq="D")
    days = days[days.day_of_week < 5]
    # nonexistent/ambiguous wall times cannot occur at 17:00 in New York (DST shifts at 02:00)
    times = (days + ROLLOVER_TIME).tz_localize(ROLLOVER_ZONE).tz_convert("UTC")
    triple = WEDNESDAY if kind == "swap" else FRIDAY
    weights = np.where(days.day_of_week == triple, 3.0, 1.0)
    return times, weights


def financing_rates(index: pd.DatetimeIndex, instrument: Instrument | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(long, short): per bar, the fraction of a position's notional at the bar's close that it
    pays then (negative: earns), or None when nothing is ever charged."""
    if instrument is None or instrument.financing == "none" or len(index) < 2:
        return None
    if instrument.financing == "swap":
        per_long, per_short = instrument.swap_long_pct / 100.0, instrument.swap_short_pct / 100.0
    elif instrument.financing == "borrow":
        per_long, per_short = 0.0, instrument.borrow_pct / 100.0 / 360.0
    else:
        per_long, per_short = instrument.funding_pct / 100.0, -instrument.funding_pct / 100.0
    if per_long == 0 and per_short == 0:
        return None
    times, weights = financing_events(index[0], index[-1], instrument)
    opens = index.asi8 if index.unit == "ns" else index.as_unit("ns").asi8  # as_unit copies even in ns
    bar = np.searchsorted(opens, times.as_unit("ns").asi8, side="left") - 1
    held = (bar >= 0) & (bar < len(index) - 1)
    nights = np.zeros(len(index))
    np.add.at(nights, bar[held], weights[held])
    return nights * per_long, nights * per_short
