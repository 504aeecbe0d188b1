"""Second pass on mid-sized indicator modules (issue 19, "closer to the floor"): the same outputs,
bit for bit, as the code they replaced.

References: the module's previous ``compute`` kept verbatim (but for names) here or in
``test_rewrites.py``, compared through ``calculate_arrays`` on that file's datasets (clean, gaps
and NaN rows, short, ties) for the default config, the smallest and large periods and the
parameters that change code paths.
"""

import numpy as np
import pandas as pd
import pytest
import talib
from numba import njit

from modules.base import as_float
from modules.common.series import compare, zones
from modules.common.swings_sr import lag, rolling_max, rolling_min
from modules.tests.test_rewrites import (
    DATASETS,
    assert_same_outputs,
    connors_rsi_ref,
    donchian_channels_ref,
    elder_ray_ref,
    historical_volatility_ref,
    random_bars,
    vwap_ref,
)

# ---- historical_volatility: pandas rolling std -> a Numba port of pandas' roll_var ---------------
HV_CONFIGS = [
    {},
    {"period": 2},
    {"period": 3, "annualize": False},
    {"period": 1000, "regime_period": 2},
    {"period": 57, "trading_days": 365.25},
]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("config", HV_CONFIGS)
def test_historical_volatility_same_as_pandas(dataset, config):
    assert_same_outputs("historical_volatility", DATASETS[dataset](), config, historical_volatility_ref)


@pytest.mark.parametrize("period", [2, 3, 20])
def test_historical_volatility_same_through_flat_runs_zeros_and_infs(period):
    """Runs of unchanged closes (zero returns: pandas recomputes the window when its variance
    collapses), zero closes (log 0 = -inf, x / 0 = inf: missing to pandas) and NaN closes."""
    data = random_bars(4000, 11, nan_rows=30, gaps=5)
    close = data["close"].to_numpy(copy=True)
    close[500:700] = 100.0
    close[1500:1540] = close[1499]
    close[[900, 901, 2500, 3100]] = 0.0
    close[2000:2003] = np.inf
    close[3000:3500] = np.round(close[3000:3500], 0)
    data["close"] = close
    assert_same_outputs("historical_volatility", data, {"period": period}, historical_volatility_ref)


# ---- connors_rsi: the one-bar change and the final average fused into Numba passes ---------------
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize(
    "config",
    [
        {},
        {"rsi_period": 2, "streak_period": 2, "rank_period": 2},
        {"rank_period": 1000, "rsi_period": 100},
        {"rank_period": 8},  # the percent rank's passes of eight lags: exactly one, one and a rest
        {"rank_period": 9},
        {"rank_period": 23},
    ],
)
def test_connors_rsi_same_as_before(dataset, config):
    assert_same_outputs("connors_rsi", DATASETS[dataset](), config, connors_rsi_ref)


def test_connors_rsi_same_as_before_through_a_zero_close():
    data = random_bars(500, 12)
    close = data["close"].to_numpy(copy=True)
    close[[100, 101, 300]] = 0.0  # x / 0 = inf, 0 / 0 = NaN in the one-bar change
    data["close"] = close
    assert_same_outputs("connors_rsi", data, {"rank_period": 5}, connors_rsi_ref)


# ---- fisher_transform: median, trigger and trend labels fused into the Numba kernels -------------
@njit
def _fisher_before(mid, highest, lowest, period):
    n = mid.shape[0]
    fisher = np.full(n, np.nan)
    value = 0.0
    prev = 0.0
    for t in range(period - 1, n):
        span = highest[t] - lowest[t]
        position = (mid[t] - lowest[t]) / span - 0.5 if span > 0.0 else 0.0
        value = 0.66 * position + 0.67 * value
        if value > 0.99:
            value = 0.999
        elif value < -0.99:
            value = -0.999
        prev = 0.5 * np.log((1.0 + value) / (1.0 - value)) + 0.5 * prev
        fisher[t] = prev
    return fisher


def fisher_transform_ref(data, config):
    mid = (as_float(data, "high") + as_float(data, "low")) / 2.0
    n = config["period"]
    fisher = _fisher_before(mid, rolling_max(mid, n), rolling_min(mid, n), n)
    trigger = lag(fisher)
    with np.errstate(invalid="ignore"):
        trend = compare(fisher, trigger, ("bullish", "bearish", "neutral"))
    return {"value": fisher, "trigger": trigger, "trend": trend}


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("config", [{}, {"period": 2}, {"period": 7}, {"period": 500}])
def test_fisher_transform_same_as_before(dataset, config):
    assert_same_outputs("fisher_transform", DATASETS[dataset](), config, fisher_transform_ref)


# ---- vwap: sessions worked out in the VWAP kernel from the index's own integers ------------------
VWAP_CONFIGS = [
    {},
    {"anchor": "week", "session_start_hour": 22, "band_mult": 1.5},
    {"session_start_hour": 13},
    {"anchor": "week", "session_start_hour": 5},
]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("config", VWAP_CONFIGS)
def test_vwap_same_as_before(dataset, config):
    assert_same_outputs("vwap", DATASETS[dataset](), config, vwap_ref)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("config", VWAP_CONFIGS)
def test_vwap_same_as_before_for_every_index_unit_and_before_the_epoch(unit, config):
    data = random_bars(4000, 13, nan_rows=10, gaps=25)
    index = pd.DatetimeIndex(data.index)
    for shifted in (index, index - pd.Timedelta(days=20000)):  # floor division below zero
        frame = data.set_axis(shifted.as_unit(unit).tz_convert("America/New_York"))
        assert_same_outputs("vwap", frame, config, vwap_ref)


# ---- heikin_ashi_trend: the candle kernel without branches ---------------------------------------
@njit(inline="always")
def _ha_maximum(a, b):
    """``np.maximum`` of two floats: NaN if either is NaN."""
    return a if a >= b or np.isnan(a) else b


@njit(inline="always")
def _ha_minimum(a, b):
    """``np.minimum`` of two floats: NaN if either is NaN."""
    return a if a <= b or np.isnan(a) else b


@njit
def _ha_candles_before(open_, high, low, close, confirm):
    """Every output in one pass over the bars: HA open/high/low/close, the signed streak,
    ``strong`` and the trend codes (0 bullish, 1 bearish, 2 neutral)."""
    n = open_.shape[0]
    ha_open = np.empty(n)
    ha_high = np.empty(n)
    ha_low = np.empty(n)
    ha_close = np.empty(n)
    streak = np.empty(n)
    strong = np.empty(n, dtype=np.bool_)
    trend = np.empty(n, dtype=np.int8)
    prev_sign = 0
    run = 0
    for t in range(n):
        c = (open_[t] + high[t] + low[t] + close[t]) / 4.0
        o = (open_[0] + close[0]) / 2.0 if t == 0 else (ha_open[t - 1] + ha_close[t - 1]) / 2.0
        h = _ha_maximum(high[t], _ha_maximum(o, c))
        lo = _ha_minimum(low[t], _ha_minimum(o, c))
        sign = 1 if c - o > 0.0 else (-1 if c - o < 0.0 else 0)  # 0 for a doji or NaN
        run = run + 1 if t > 0 and sign == prev_sign else 1
        prev_sign = sign
        s = float(run * sign)
        ha_open[t] = o
        ha_high[t] = h
        ha_low[t] = lo
        ha_close[t] = c
        streak[t] = s
        strong[t] = (sign > 0 and lo >= o) or (sign < 0 and h <= o)
        trend[t] = 0 if s >= confirm else (1 if s <= -confirm else 2)
    return ha_open, ha_high, ha_low, ha_close, streak, strong, trend


def heikin_ashi_trend_ref(data, config):
    open_, high, low, close = (as_float(data, column) for column in ("open", "high", "low", "close"))
    ha_open, ha_high, ha_low, ha_close, streak, strong, trend = _ha_candles_before(
        open_, high, low, close, config["confirm"]
    )
    return {
        "trend": np.array(("bullish", "bearish", "neutral"))[trend],
        "streak": streak,
        "strong": strong,
        "ha_open": ha_open,
        "ha_high": ha_high,
        "ha_low": ha_low,
        "ha_close": ha_close,
    }


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("config", [{}, {"confirm": 2}, {"confirm": 50}])
def test_heikin_ashi_trend_same_as_before(dataset, config):
    assert_same_outputs("heikin_ashi_trend", DATASETS[dataset](), config, heikin_ashi_trend_ref)


# ---- elder_ray: the setup codes without branches -------------------------------------------------
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("config", [{}, {"period": 1}, {"period": 2}, {"period": 200}])
def test_elder_ray_same_as_before(dataset, config):
    assert_same_outputs("elder_ray", DATASETS[dataset](), config, elder_ray_ref)


# ---- donchian_channels: breakout codes against the previous bar's channel in place -----------------
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("config", [{}, {"period": 1}, {"period": 2}, {"period": 1000}])
def test_donchian_channels_same_as_before(dataset, config):
    assert_same_outputs("donchian_channels", DATASETS[dataset](), config, donchian_channels_ref)


# ---- schaff_trend_cycle: in place over the temporaries, the direction codes in the kernel --------
@njit
def _stc_before(macd, macd_high, macd_low, cycle, factor):
    n = macd.shape[0]
    d = np.full(n, np.nan)
    stc = np.full(n, np.nan)
    k = 0.0
    kd = 0.0
    first = -1
    for t in range(n):
        if np.isnan(macd_high[t]):
            continue
        span = macd_high[t] - macd_low[t]
        if span > 0.0:
            k = 100.0 * (macd[t] - macd_low[t]) / span
        if first < 0:
            first = t
            d[t] = k
        else:
            d[t] = d[t - 1] + factor * (k - d[t - 1])
        if t - first < cycle - 1:
            continue
        lowest = d[t]
        highest = d[t]
        for j in range(t - cycle + 1, t):
            lowest = min(lowest, d[j])
            highest = max(highest, d[j])
        if highest - lowest > 0.0:
            kd = 100.0 * (d[t] - lowest) / (highest - lowest)
        if np.isnan(stc[t - 1]):
            stc[t] = kd
        else:
            stc[t] = stc[t - 1] + factor * (kd - stc[t - 1])
    return stc


def schaff_trend_cycle_ref(data, config):
    close = as_float(data, "close")
    macd = talib.EMA(close, config["fast"]) - talib.EMA(close, config["slow"])
    cycle = config["cycle"]
    stc = _stc_before(macd, rolling_max(macd, cycle), rolling_min(macd, cycle), cycle, config["factor"])
    prev = lag(stc)
    with np.errstate(invalid="ignore"):
        zone = zones(stc, config["overbought"], config["oversold"])
        direction = compare(stc, prev, ("rising", "falling", "neutral"))
    return {"value": stc, "zone": zone, "direction": direction}


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize(
    "config",
    [{}, {"cycle": 2, "fast": 1, "slow": 2, "factor": 1.0}, {"cycle": 50, "fast": 12, "slow": 26, "factor": 0.25}],
)
def test_schaff_trend_cycle_same_as_before(dataset, config):
    assert_same_outputs("schaff_trend_cycle", DATASETS[dataset](), config, schaff_trend_cycle_ref)
