"""Sixth pass on the indicator modules (issue 19, "closer to the floor"): the same outputs, bit
for bit, as the code they replaced.

References: the module's previous ``compute`` kept verbatim (but for names) here, compared
through ``calculate_arrays`` on ``test_rewrites.py``'s datasets (clean, gaps and NaN rows, short,
ties) and on edge cases that reach each code path, for the default config and a few others.
"""

import numpy as np
import pandas as pd
import pytest
import talib

from modules.base import as_float
from modules.common.series import compare, labels, zones
from modules.tests.test_rewrites import DATASETS, assert_same_outputs, random_bars
from modules.trend.adx import _adx
from modules.trend.aroon import _oscillator


# ---- rsi: the test for a TA-Lib 0 reads the RSI once instead of writing a mask -------------------
def rsi_ref(data, config):
    close = as_float(data, "close")
    rsi = talib.RSI(close, timeperiod=config["period"])
    if (rsi == 0).any():
        flat = (rsi == 0) & (talib.RSI(-close, timeperiod=config["period"]) == 0)
        rsi = np.where(flat, 50.0, rsi)
    return {"value": rsi, "zone": zones(rsi, config["overbought"], config["oversold"])}


def _flat_runs(n: int, seed: int, lead_nan: bool) -> pd.DataFrame:
    """Bars that start with a fall (only losses: TA-Lib's RSI is a real 0 there while RSI(-close)
    is 100) and later stand still (TA-Lib's RSI keeps its last value there), optionally after a
    leading NaN (the minimum is NaN, the exact test decides). A market flat from the start
    (TA-Lib's 0 on both sides: 50 by convention) is ``all_flat``."""
    data = random_bars(n, seed)
    close = data["close"].to_numpy(copy=True)
    close[:30] = np.linspace(close[30] + 3.0, close[30] + 0.1, 30)
    close[1000:1800] = close[999]
    close[2000:2020] = np.linspace(close[1999], close[1999] - 1.0, 20)
    close[2020:2900] = close[2019]
    if lead_nan:
        close[0] = np.nan
    data["close"] = close
    return data


RSI_DATASETS = {
    **DATASETS,
    "flat_runs": lambda: _flat_runs(3000, 4, False),
    "flat_runs_lead_nan": lambda: _flat_runs(3000, 5, True),
    "all_flat": lambda: random_bars(300, 6).assign(close=42.0),
    "all_nan": lambda: random_bars(50, 8).assign(close=np.nan),
    "empty": lambda: random_bars(50, 9).iloc[:0],
    "one_bar": lambda: random_bars(1, 10),
}


@pytest.mark.parametrize("dataset", RSI_DATASETS)
@pytest.mark.parametrize("config", [{}, {"period": 2}, {"period": 200}, {"period": 5, "overbought": 50}])
def test_rsi_same_as_before(dataset, config):
    assert_same_outputs("rsi", RSI_DATASETS[dataset](), config, rsi_ref)


# ---- aroon: the oscillator read back from AROON's Up and Down instead of TA-Lib's AROONOSC -------
def aroon_ref(data, config):
    high, low = as_float(data, "high"), as_float(data, "low")
    down, up = talib.AROON(high, low, timeperiod=config["period"])
    osc = talib.AROONOSC(high, low, timeperiod=config["period"])
    return {"oscillator": osc, "up": up, "down": down, "trend": compare(osc, 0, ("bullish", "bearish", "neutral"))}


AROON_DATASETS = {
    **DATASETS,
    "leading_nans": lambda: random_bars(800, 11).assign(
        high=lambda d: d["high"].where(np.arange(len(d)) >= 90), low=lambda d: d["low"].where(np.arange(len(d)) >= 90)
    ),
    "all_nan": lambda: random_bars(60, 12).assign(high=np.nan, low=np.nan),
    "flat": lambda: random_bars(400, 13).assign(high=10.0, low=9.0),
    "empty": lambda: random_bars(50, 9).iloc[:0],
}


@pytest.mark.parametrize("dataset", AROON_DATASETS)
@pytest.mark.parametrize("config", [{}, {"period": 2}, {"period": 3}, {"period": 14}, {"period": 33}, {"period": 500}])
def test_aroon_same_as_before(dataset, config):
    assert_same_outputs("aroon", AROON_DATASETS[dataset](), config, aroon_ref)


@pytest.mark.parametrize("seed", range(6))
def test_aroon_oscillator_is_talib_aroonosc_for_every_period(seed):
    """Every period whose 100 / period is inexact, on random walks with ties and NaN gaps."""
    rng = np.random.default_rng(seed)
    n = 2000
    high = np.round(100.0 + np.cumsum(rng.standard_normal(n)), 1 if seed % 2 else 6)
    low = high - np.round(np.abs(rng.standard_normal(n)), 1)
    if seed >= 3:
        gaps = rng.integers(0, n, 40)
        high[gaps] = np.nan
        low[gaps[::2]] = np.nan
    for period in range(2, 120):
        down, up = talib.AROON(high, low, period)
        got = _oscillator(up, down, period)
        expected = talib.AROONOSC(high, low, period)
        same = (got.view(np.int64) == expected.view(np.int64)) | (np.isnan(got) & np.isnan(expected))
        assert same.all(), (period, np.flatnonzero(~same)[:5])


# ---- adx: ADX's DX and smoothing over PLUS_DI and MINUS_DI instead of a third TA-Lib call --------
def adx_ref(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    period = config["period"]
    adx = talib.ADX(high, low, close, timeperiod=period)
    plus_di = talib.PLUS_DI(high, low, close, timeperiod=period)
    minus_di = talib.MINUS_DI(high, low, close, timeperiod=period)
    strong = adx >= config["threshold"]
    trend = labels(
        [(strong & (plus_di > minus_di), "uptrend"), (strong & (minus_di > plus_di), "downtrend")],
        len(adx),
        "no_trend",
    )
    return {"adx": adx, "plus_di": plus_di, "minus_di": minus_di, "trend": trend}


def _standing_still(n: int, seed: int, start: int) -> pd.DataFrame:
    """Bars that stop moving at ``start`` (high, low and close frozen): the directional
    movement decays to TA-Lib's zero bound while the true range stays, so +DI + -DI falls
    through it and TA-Lib stops adding DX."""
    data = random_bars(n, seed)
    for column in ("open", "high", "low", "close"):
        values = data[column].to_numpy(copy=True)
        values[start:] = values[start]
        data[column] = values
    return data


def _some_nans(n: int, seed: int, column: str, leading: int) -> pd.DataFrame:
    data = random_bars(n, seed)
    values = data[column].to_numpy(copy=True)
    values[:leading] = np.nan
    values[np.random.default_rng(seed).integers(leading, n, 5)] = np.nan
    data[column] = values
    return data


ADX_DATASETS = {
    **DATASETS,
    "standing_still": lambda: _standing_still(3000, 14, 1200),
    "standing_still_early": lambda: _standing_still(400, 15, 20),
    "all_flat": lambda: random_bars(300, 16).assign(open=5.0, high=5.0, low=5.0, close=5.0),
    "leading_nan_close": lambda: _some_nans(900, 17, "close", 33),
    "leading_nan_high": lambda: _some_nans(900, 18, "high", 3),
    "all_nan": lambda: random_bars(80, 19).assign(low=np.nan),
    "empty": lambda: random_bars(50, 9).iloc[:0],
    "one_bar": lambda: random_bars(1, 10),
}


@pytest.mark.parametrize("dataset", ADX_DATASETS)
@pytest.mark.parametrize(
    "config", [{}, {"period": 2}, {"period": 3, "threshold": 0}, {"period": 27}, {"period": 500, "threshold": 60}]
)
def test_adx_same_as_before(dataset, config):
    assert_same_outputs("adx", ADX_DATASETS[dataset](), config, adx_ref)


@pytest.mark.parametrize("seed", range(4))
def test_adx_kernel_is_talib_adx_on_random_walks(seed):
    """Many periods and lengths, with rounded prices (ties, zero moves), NaN gaps and frozen runs."""
    rng = np.random.default_rng(seed)
    for case in range(150):
        n = int(rng.choice([2, 3, 5, 30, 31, 300, 1500]))
        period = int(rng.choice([2, 3, 5, 14, 15, 50]))
        close = 100.0 + np.cumsum(rng.standard_normal(n))
        high = close + np.abs(rng.standard_normal(n))
        low = close - np.abs(rng.standard_normal(n))
        if case % 4 == 1:
            high, low, close = np.round(high), np.round(low), np.round(close)
        elif case % 4 == 2:
            high[rng.integers(0, n, 1 + n // 40)] = np.nan
            close[: rng.integers(0, n)] = np.nan
        elif case % 4 == 3:
            frozen = rng.integers(0, n)
            high[frozen:], low[frozen:], close[frozen:] = high[frozen], low[frozen], close[frozen]
        plus_di = talib.PLUS_DI(high, low, close, period)
        minus_di = talib.MINUS_DI(high, low, close, period)
        got = _adx(high, low, close, plus_di, minus_di, period)
        expected = talib.ADX(high, low, close, period)
        same = (got.view(np.int64) == expected.view(np.int64)) | (np.isnan(got) & np.isnan(expected))
        assert same.all(), (n, period, case, np.flatnonzero(~same)[:5])
