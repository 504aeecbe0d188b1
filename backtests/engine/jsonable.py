"""JSON-ready lists from arrays, at NumPy speed and with Python's exact results: floats rounded
as Python rounds them (``round_list``, ``significant_list``) and UTC times as
``Timestamp.isoformat()`` writes them (``iso_times``).

Every stored curve (equity, drawdown, benchmark, trade windows, rolling figures, the Monte Carlo
fan) is rounded value by value before it is written: ``round(v, 6)`` or ``float(f"{v:.10g}")``.
Python does each with a correctly rounded decimal conversion (``_Py_dg_dtoa``) and then parses
the decimal back, about 1.5 µs a value: some 20 ms of every run's 60 ms of worker CPU went to
it. NumPy's ``np.round`` is fast but not the same function (it scales, rounds and divides in
floating point, so a value near a tie can round the other way). No library offers Python's
rounding vectorised, hence this module.

How it stays exact: for ``decimals`` places, ``t = v * 10**decimals`` is computed in floating
point (one rounding, error at most half an ulp of ``t``) and rounded to the integer ``n``
half-to-even. Wherever ``t`` is further than a few ulps from a half-integer, the exact product
rounds to the same ``n``, and ``n / 10**decimals`` (both exact doubles, one correctly rounded
IEEE division) is the double nearest to the decimal ``n`` × 10⁻ᵈ: precisely what Python's
round returns. The values near a tie, non-finite ones, and any whose scaled value is too large
for an exact integer are handed to Python one by one. Significant digits are the same with the
power of ten taken from each value's magnitude (values near a power of ten, where the magnitude
itself is in doubt, also go to Python).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numba import njit

from . import jit

_EXACT_POWERS = 22  # 10**k is an exact double for 0 <= k <= 22
_MAX_EXACT_INT = 2.0**52
_TIE_ULPS = 4.0  # how close to a half-integer (in ulps of the scaled value) counts as a tie


def round_list(values, decimals: int) -> list[float]:
    """``[round(v, decimals) for v in values]`` (Python floats, NaN and infinities as they are),
    vectorised. ``decimals`` 0 to 22."""
    if not 0 <= decimals <= _EXACT_POWERS:
        raise ValueError(f"decimals must be 0 to {_EXACT_POWERS}, got {decimals}")
    a = np.asarray(values, dtype=np.float64).ravel()
    scale = 10.0**decimals
    with np.errstate(invalid="ignore", over="ignore"):
        t = a * scale
        n = np.rint(t)
        out = n / scale
        doubtful = ~_clear_of_ties(t)
    result = out.tolist()
    for i in np.flatnonzero(doubtful).tolist():
        result[i] = round(float(a[i]), decimals)
    return result


def significant_list(values, digits: int) -> list[float | None]:
    """``[float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in values]``, vectorised.
    ``digits`` 1 to 15."""
    if not 1 <= digits <= 15:
        raise ValueError(f"digits must be 1 to 15, got {digits}")
    a = np.asarray(values, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        magnitude = np.log10(np.abs(a))
        exponent = np.floor(magnitude)
        # the power of ten that puts ``digits`` digits before the point; a value within a hair of
        # a power of ten (where log10 may land on either side) goes to Python
        places = np.where(np.isfinite(exponent), digits - 1 - exponent, 0.0)
        unsure = ~np.isfinite(magnitude) | (np.abs(magnitude - np.rint(magnitude)) < 1e-9)
        unsure |= np.abs(places) > _EXACT_POWERS
        places = np.where(unsure, 0.0, places)
        up = places >= 0
        power = 10.0 ** np.abs(places)
        t = np.where(up, a * power, a / power)
        n = np.rint(t)
        out = np.where(up, n / power, n * power)
        unsure |= ~_clear_of_ties(t)
    result: list[float | None] = out.tolist()
    for i in np.flatnonzero(unsure).tolist():
        v = float(a[i])
        result[i] = float(f"{v:.{digits}g}") if math.isfinite(v) else None
    return result


def iso_times(times) -> list[str]:
    """``Timestamp.isoformat()`` of each time, in UTC (naive times are taken as UTC):
    '2024-01-01T00:00:00+00:00'. Vectorised when every time is on a whole second (bars always
    are); otherwise, or with a missing time, one by one as pandas writes them."""
    index = pd.DatetimeIndex(times)
    index = index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
    ns = index.as_unit("ns").asi8
    if not len(ns) or index.hasnans or (ns % 1_000_000_000).any():
        return [t.isoformat() for t in index]
    seconds = ns // 1_000_000_000
    if jit.usable(_iso_text):
        # one ASCII buffer, a line a time, split by Python in C: the strings cost their creation only
        text = np.empty((len(seconds), _ISO_LINE), dtype=np.uint8)
        _iso_text(jit.read_only(seconds, np.int64), text)
        return text.tobytes().decode("ascii").split("\n")[:-1]
    days, day_index = np.unique(seconds // 86_400, return_inverse=True)
    clock, clock_index = np.unique(seconds % 86_400, return_inverse=True)
    day_text = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").tolist()
    clock_text = [f"T{c // 3600:02d}:{c // 60 % 60:02d}:{c % 60:02d}+00:00" for c in clock.tolist()]
    return [day_text[d] + clock_text[c] for d, c in zip(day_index.tolist(), clock_index.tolist())]


_ISO_LINE = 26  # 'YYYY-MM-DDTHH:MM:SS+00:00' and a newline


@njit(cache=True, nogil=True)
def _iso_text(seconds, text):  # pragma: no cover - compiled
    """Each of ``seconds`` (since 1970, UTC; pandas' years 1677-2262, so four digits) as
    'YYYY-MM-DDTHH:MM:SS+00:00' and a newline into a row of ``text`` (ASCII codes). The date from the day
    number by H. Hinnant's ``civil_from_days`` (proleptic Gregorian, as datetime's)."""
    zero = 48
    for i in range(seconds.shape[0]):
        days = seconds[i] // 86_400  # floor: times before 1970 too
        clock = seconds[i] - days * 86_400
        shifted = days + 719_468  # days since 0000-03-01
        era = shifted // 146_097
        day_of_era = shifted - era * 146_097
        year_of_era = (day_of_era - day_of_era // 1_460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
        day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
        shifted_month = (5 * day_of_year + 2) // 153  # 0 = March
        day = day_of_year - (153 * shifted_month + 2) // 5 + 1
        month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
        year = year_of_era + era * 400 + (1 if month <= 2 else 0)
        hour, minute, second = clock // 3_600, clock // 60 % 60, clock % 60
        row = text[i]
        row[0], row[1], row[2], row[3] = (
            zero + year // 1000,
            zero + year // 100 % 10,
            zero + year // 10 % 10,
            zero + year % 10,
        )
        row[4], row[5], row[6] = 45, zero + month // 10, zero + month % 10  # '-'
        row[7], row[8], row[9] = 45, zero + day // 10, zero + day % 10
        row[10], row[11], row[12] = 84, zero + hour // 10, zero + hour % 10  # 'T'
        row[13], row[14], row[15] = 58, zero + minute // 10, zero + minute % 10  # ':'
        row[16], row[17], row[18] = 58, zero + second // 10, zero + second % 10
        row[19], row[20], row[21], row[22], row[23], row[24] = 43, zero, zero, 58, zero, zero  # '+00:00'
        row[25] = 10  # newline


def _clear_of_ties(t: np.ndarray) -> np.ndarray:
    """Where the scaled values ``t`` are finite, small enough to be exact integers after
    rounding, and further than ``_TIE_ULPS`` ulps from a half-integer (so the exact product
    they stand for rounds to the same integer)."""
    distance = np.abs(np.abs(t - np.floor(t)) - 0.5)
    return np.isfinite(t) & (np.abs(t) < _MAX_EXACT_INT) & (distance > _TIE_ULPS * np.spacing(np.abs(t)))
