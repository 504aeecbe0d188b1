"""The vectorised rounding gives Python's results bit for bit (sign of zero included), on random
values over every magnitude and on the hard cases: exact ties, values a few ulps from a tie,
powers of ten and their neighbours, zeros, NaN and infinities, values too large to scale."""

from __future__ import annotations

import math
import struct

import numpy as np
import pandas as pd
import pytest

from backtests.engine import jit
from backtests.engine.jsonable import iso_times, round_list, significant_list


def _bits(values) -> list:
    """Each value's exact bit pattern (None stays None): equal lists mean identical floats, -0.0
    and NaN included."""
    return [None if v is None else struct.pack("<d", v) for v in values]


def _hard_cases(rng: np.random.Generator, decimals: int) -> np.ndarray:
    k = rng.integers(-(10**9), 10**9, 20_000).astype(np.float64)
    ties = (k + 0.5) / 10.0**decimals  # the nearest doubles to decimal ties
    near = np.concatenate([np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf), ties])
    for _ in range(3):
        near = np.concatenate([near, np.nextafter(near, np.inf), np.nextafter(near, -np.inf)])
    powers = 10.0 ** np.arange(-30, 31, dtype=np.float64)
    around = np.concatenate([powers, -powers, np.nextafter(powers, 0), np.nextafter(powers, np.inf)])
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e300, -1e300, 5e-324, 2.0**52, 2.0**53 + 1, 0.5, 2.5])
    return np.concatenate([near, around, special])


def _random_values(rng: np.random.Generator, n: int) -> np.ndarray:
    mantissa = rng.uniform(-1, 1, n)
    scale = 10.0 ** rng.integers(-12, 16, n)
    prices = rng.normal(10_000, 3_000, n)  # the usual case: money and prices
    return np.concatenate([mantissa * scale, prices, np.round(prices, 2), np.round(prices, 7)])


@pytest.mark.parametrize("decimals", [0, 1, 2, 4, 6, 9, 10])
def test_round_list_is_pythons_round(decimals):
    rng = np.random.default_rng(decimals)
    values = np.concatenate([_random_values(rng, 40_000), _hard_cases(rng, decimals)])
    expected = [round(v, decimals) for v in values.tolist()]
    assert _bits(round_list(values, decimals)) == _bits(expected)


@pytest.mark.parametrize("digits", [1, 6, 10, 15])
def test_significant_list_is_pythons_format(digits):
    rng = np.random.default_rng(100 + digits)
    values = np.concatenate([_random_values(rng, 40_000), _hard_cases(rng, 3), _hard_cases(rng, 8)])
    expected = [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in values.tolist()]
    assert _bits(significant_list(values, digits)) == _bits(expected)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        round_list([1.0], 23)
    with pytest.raises(ValueError):
        significant_list([1.0], 0)
    assert round_list([], 6) == [] and significant_list(np.zeros(0), 10) == []


@pytest.mark.parametrize(
    "times",
    [
        pd.date_range("2024-01-01", periods=500, freq="15min", tz="UTC"),
        pd.date_range("2023-12-30 23:59:58", periods=90_000, freq="7s", tz="UTC"),  # days and years turn
        pd.DatetimeIndex(["2024-02-29 23:00", "2020-01-01 00:00", "2024-02-29 23:00"], tz="UTC"),  # unordered
        pd.date_range("1969-12-31 22:00", periods=5, freq="1h"),  # naive, before 1970
        pd.date_range("2024-03-10", periods=48, freq="1h", tz="America/New_York"),  # over a DST change
        pd.DatetimeIndex(["2024-01-01 00:00:00.25", "2024-01-01 00:15:00"], tz="UTC"),  # a fraction of a second
        pd.DatetimeIndex(["2024-01-01 00:00", None], tz="UTC"),  # a missing time
        pd.DatetimeIndex([], tz="UTC"),
    ],
)
def test_iso_times_are_each_timestamps_isoformat_in_utc(times):
    utc = times.tz_convert("UTC") if times.tz is not None else times.tz_localize("UTC")
    assert iso_times(times) == [t.isoformat() for t in utc]


def test_iso_times_over_pandas_whole_range_compiled_and_not(monkeypatch):
    """Random whole-second times from 1677 to 2262 (leap and non-leap centuries, both sides of
    1970), and every day of the years around 1700, 1900, 2000 and 2100: the compiled formatter
    and the NumPy one (taken while kernels compile) each write ``Timestamp.isoformat()``."""
    rng = np.random.default_rng(19)
    first, last = pd.Timestamp("1677-09-22", tz="UTC").value, pd.Timestamp("2262-04-10", tz="UTC").value
    seconds = rng.integers(first // 10**9, last // 10**9, 50_000)
    random_times = pd.DatetimeIndex(seconds * 10**9, tz="UTC")
    turns = [
        pd.date_range(f"{y - 1}-12-25", f"{y + 1}-03-05", freq="86399s", tz="UTC") for y in (1700, 1900, 2000, 2100)
    ]
    for times in [random_times, *turns]:
        expected = [t.isoformat() for t in times]
        assert iso_times(times) == expected
        with monkeypatch.context() as patched:
            patched.setattr(jit, "usable", lambda dispatcher: False)
            assert iso_times(times) == expected
