"""Golden values for the momentum and moving-average modules.

TA-Lib modules: our columns equal a direct TA-Lib call. The others (tsi, awesome_oscillator,
hull_ma, zlema, vwma, smma) are checked against plain loop/pandas references written here,
published implementations where they exist (the ``ta`` package), and small hand-worked cases.
"""

import math

import numpy as np
import pandas as pd
import pytest
import talib

from modules.common.series import price_source
from modules.errors import ModuleConfigError
from modules.registry import get_registry

from .conftest import load_sample
from .test_indicator_trend import bars, close_enough, run

REGISTRY = get_registry()


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def _hlc(d: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return d["high"].to_numpy(), d["low"].to_numpy(), d["close"].to_numpy()


def _close(d):
    return d["close"].to_numpy()


TALIB_CASES = [
    ("momentum_indicator", {}, lambda d: talib.MOM(_close(d), 10)),
    ("momentum_indicator", {"period": 3, "source": "high"}, lambda d: talib.MOM(d["high"].to_numpy(), 3)),
    ("roc", {}, lambda d: talib.ROC(_close(d), 10)),
    (
        "roc",
        {"period": 24, "source": "ohlc4"},
        lambda d: talib.ROC(((d["open"] + d["high"] + d["low"] + d["close"]) / 4).to_numpy(), 24),
    ),
    ("cci", {}, lambda d: talib.CCI(*_hlc(d), 20)),
    ("cci", {"period": 5}, lambda d: talib.CCI(*_hlc(d), 5)),
    ("mfi", {}, lambda d: talib.MFI(*_hlc(d), d["volume"].to_numpy(), 14)),
    ("mfi", {"period": 30}, lambda d: talib.MFI(*_hlc(d), d["volume"].to_numpy(), 30)),
    ("williams_r", {}, lambda d: talib.WILLR(*_hlc(d), 14)),
    ("williams_r", {"period": 50}, lambda d: talib.WILLR(*_hlc(d), 50)),
    ("ultimate_oscillator", {}, lambda d: talib.ULTOSC(*_hlc(d), 7, 14, 28)),
    ("ultimate_oscillator", {"short": 3, "medium": 10, "long": 40}, lambda d: talib.ULTOSC(*_hlc(d), 3, 10, 40)),
    ("ema", {}, lambda d: talib.EMA(_close(d), 20)),
    ("ema", {"period": 200, "source": "hl2"}, lambda d: talib.EMA(((d["high"] + d["low"]) / 2).to_numpy(), 200)),
    ("wma", {}, lambda d: talib.WMA(_close(d), 20)),
    ("wma", {"period": 9, "source": "low"}, lambda d: talib.WMA(d["low"].to_numpy(), 9)),
    ("dema", {}, lambda d: talib.DEMA(_close(d), 20)),
    ("dema", {"period": 50}, lambda d: talib.DEMA(_close(d), 50)),
    ("tema", {}, lambda d: talib.TEMA(_close(d), 20)),
    (
        "tema",
        {"period": 8, "source": "hlc3"},
        lambda d: talib.TEMA(((d["high"] + d["low"] + d["close"]) / 3).to_numpy(), 8),
    ),
]


@pytest.mark.parametrize("module_id,config,direct", TALIB_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TALIB_CASES)])
def test_talib_modules_equal_direct_call(sample, module_id, config, direct):
    np.testing.assert_array_equal(run(module_id, sample, config)["value"], direct(sample))


@pytest.mark.parametrize(
    "module_id,bad_config,field",
    [
        ("cci", {"overbought": 0, "oversold": 0}, "oversold"),
        ("mfi", {"overbought": 50, "oversold": 50}, "oversold"),
        ("williams_r", {"overbought": -50, "oversold": -50}, "oversold"),
        ("ultimate_oscillator", {"short": 14}, "medium"),
    ],
)
def test_oscillator_zones_follow_levels(sample, module_id, bad_config, field):
    cls = REGISTRY.get_module(module_id)
    full = cls.validate_config({})
    out = run(module_id, sample)
    value, zone = out["value"], out["zone"]
    assert set(zone[value >= full["overbought"]]) <= {"overbought"}
    assert set(zone[value <= full["oversold"]]) <= {"oversold"}
    middle = (value > full["oversold"]) & (value < full["overbought"])
    assert set(zone[middle | np.isnan(value)]) == {"neutral"}
    with pytest.raises(ModuleConfigError) as err:
        cls.validate_config(bad_config)
    assert err.value.field == field


def test_price_sources(sample):
    open_, high, low, close = (sample[k].to_numpy() for k in ("open", "high", "low", "close"))
    close_enough(price_source(sample, "hl2"), (high + low) / 2)
    close_enough(price_source(sample, "hlc3"), (high + low + close) / 3)
    close_enough(price_source(sample, "ohlc4"), (open_ + high + low + close) / 4)
    assert (price_source(sample, "open") == open_).all()


MOVING_AVERAGES = ["ema", "wma", "dema", "tema", "hull_ma", "zlema", "vwma", "smma"]


@pytest.mark.parametrize("module_id", MOVING_AVERAGES)
def test_moving_average_position(sample, module_id):
    out = run(module_id, sample)
    close = sample["close"].to_numpy()
    assert set(out["position"][close > out["value"]]) == {"above"}
    assert set(out["position"][close < out["value"]]) == {"below"}
    assert set(out["position"][np.isnan(out["value"])]) == {"neutral"}


# ---- references -------------------------------------------------------------------------


def ema_ref(values, period, alpha=None):
    """EMA seeded with the mean of the first ``period`` non-NaN values."""
    alpha = 2 / (period + 1) if alpha is None else alpha
    out = np.full(len(values), np.nan)
    start = int(np.argmax(~np.isnan(values)))
    if start + period > len(values):
        return out
    out[start + period - 1] = np.mean(values[start : start + period])
    for t in range(start + period, len(values)):
        out[t] = alpha * values[t] + (1 - alpha) * out[t - 1]
    return out


def wma_ref(values, period):
    weights = np.arange(1, period + 1, dtype=float)
    out = np.full(len(values), np.nan)
    for t in range(period - 1, len(values)):
        out[t] = np.dot(values[t - period + 1 : t + 1], weights) / weights.sum()
    return out


# ---- TSI --------------------------------------------------------------------------------


def test_tsi_against_reference(sample):
    out = run("tsi", sample)
    close = sample["close"].to_numpy()
    m = np.r_[np.nan, np.diff(close)]
    tsi = 100 * ema_ref(ema_ref(m, 25), 13) / ema_ref(ema_ref(np.abs(m), 25), 13)
    close_enough(out["value"], tsi)
    close_enough(out["signal"], ema_ref(tsi, 13))
    assert np.isnan(out["value"][:37]).all() and not np.isnan(out["value"][37])


def test_tsi_converges_to_ta_library(sample):
    ta = pytest.importorskip("ta")
    ours = run("tsi", sample)["value"]
    theirs = ta.momentum.TSIIndicator(sample["close"], 25, 13).tsi().to_numpy()
    # ta seeds its EMAs with the first value instead of a mean; the difference dies out
    np.testing.assert_allclose(ours[-500:], theirs[-500:], rtol=1e-8, atol=1e-8)


def test_tsi_hand_case():
    rising = np.arange(1.0, 41.0)
    out = run("tsi", bars(rising, rising, rising), {"long": 5, "short": 3, "signal": 2})
    close_enough(out["value"][7:], np.full(33, 100.0))  # every change +1 -> TSI exactly 100
    assert np.isnan(out["value"][:7]).all()
    flat = np.full(20, 7.0)
    out = run("tsi", bars(flat, flat, flat), {"long": 5, "short": 3})
    close_enough(out["value"][7:], np.zeros(13))  # no movement -> 0, not a division by zero


# ---- Awesome Oscillator -----------------------------------------------------------------


def test_awesome_oscillator_against_pandas_and_ta(sample):
    out = run("awesome_oscillator", sample)
    median = (sample["high"] + sample["low"]) / 2
    ao = (median.rolling(5).mean() - median.rolling(34).mean()).to_numpy()
    close_enough(out["value"], ao)
    prev = np.r_[np.nan, ao[:-1]]
    bar = np.where(ao > prev, "rising", np.where(ao < prev, "falling", "neutral"))
    assert (out["bar"] == bar).all()
    ta = pytest.importorskip("ta")
    published = ta.momentum.AwesomeOscillatorIndicator(sample["high"], sample["low"])
    close_enough(out["value"], published.awesome_oscillator())


def test_awesome_oscillator_hand_case():
    # medians 1, 2, 3, 4, 6 with fast 2 / slow 3: SMA2 - SMA3 at bars 2-4 = 2.5-2, 3.5-3, 5-13/3
    high = np.array([1, 2, 3, 4, 6], float)
    out = run("awesome_oscillator", bars(high + 1, high - 1), {"fast": 2, "slow": 3})
    close_enough(out["value"], [np.nan, np.nan, 0.5, 0.5, 5 - 13 / 3])
    assert list(out["bar"]) == ["neutral", "neutral", "neutral", "neutral", "rising"]
    with pytest.raises(ModuleConfigError) as err:
        REGISTRY.get_module("awesome_oscillator").validate_config({"fast": 34})
    assert err.value.field == "fast"


# ---- Hull MA ----------------------------------------------------------------------------


@pytest.mark.parametrize("period", [20, 9, 2])
def test_hull_ma_against_reference(sample, period):
    close = sample["close"].to_numpy()
    raw = 2 * wma_ref(close, period // 2) - wma_ref(close, period)
    expected = np.full(len(close), np.nan)
    valid = ~np.isnan(raw)
    expected[valid] = wma_ref(raw[valid], math.isqrt(period))
    close_enough(run("hull_ma", sample, {"period": period})["value"], expected)


def test_hull_ma_hand_case():
    # Hull's average tracks a straight line exactly: HMA(4) of t is t from bar 4 on
    line = np.arange(12.0)
    out = run("hull_ma", bars(line, line, line), {"period": 4})
    assert np.isnan(out["value"][:4]).all()
    close_enough(out["value"][4:], line[4:])


# ---- ZLEMA ------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [20, 7, 2])
def test_zlema_against_reference(sample, period):
    close = sample["close"].to_numpy()
    lag = (period - 1) // 2
    delagged = 2 * close - pd.Series(close).shift(lag).to_numpy()
    close_enough(run("zlema", sample, {"period": period})["value"], ema_ref(delagged, period))


def test_zlema_hand_case():
    # period 3: lag 1, de-lagged input t + 1, its EMA (alpha 0.5) lags one bar -> ZLEMA = t exactly
    line = np.arange(10.0)
    out = run("zlema", bars(line, line, line), {"period": 3})
    assert np.isnan(out["value"][:3]).all()
    close_enough(out["value"][3:], line[3:])


# ---- VWMA -------------------------------------------------------------------------------


def test_vwma_against_pandas(sample):
    out = run("vwma", sample, {"period": 14, "source": "hlc3"})
    price = (sample["high"] + sample["low"] + sample["close"]) / 3
    expected = (price * sample["volume"]).rolling(14).sum() / sample["volume"].rolling(14).sum()
    close_enough(out["value"], expected)


def test_vwma_hand_case():
    close = [10, 20, 30, 40]
    out = run("vwma", bars(close, close, close, volume=[1, 3, 0, 0]), {"period": 2})
    # (10*1 + 20*3) / 4 = 17.5; (20*3 + 30*0) / 3 = 20; no volume in the last window -> NaN
    close_enough(out["value"], [np.nan, 17.5, 20.0, np.nan])
    assert list(out["position"]) == ["neutral", "above", "above", "neutral"]


# ---- SMMA -------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [20, 1, 7])
def test_smma_against_reference(sample, period):
    close = sample["close"].to_numpy()
    expected = ema_ref(close, period, alpha=1 / period)
    close_enough(run("smma", sample, {"period": period})["value"], expected)


def test_smma_matches_wilder_inside_talib_rsi(sample):
    # RSI averages gains and losses with Wilder's smoothing seeded by their mean: rebuild it
    from modules.common.smoothing import smma

    close = sample["close"].to_numpy()
    change = np.r_[np.nan, np.diff(close)]
    gain, loss = smma(np.clip(change, 0, None), 14), smma(np.clip(-change, 0, None), 14)
    close_enough(100 - 100 / (1 + gain / loss), talib.RSI(close, 14))


def test_smma_hand_case():
    values = [1, 2, 3, 4, 5]
    out = run("smma", bars(values, values, values), {"period": 3})
    # seed mean(1, 2, 3) = 2; then (2*2 + 4)/3 = 8/3; then (2*8/3 + 5)/3 = 31/9
    close_enough(out["value"], [np.nan, np.nan, 2, 8 / 3, 31 / 9])
