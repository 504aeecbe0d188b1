"""Golden values for the indicator and trend modules.

TA-Lib modules: our columns equal a direct TA-Lib call. The others (bollinger %B, ichimoku,
supertrend, heikin_ashi_trend) are checked against straightforward loop/pandas references
written here, and on small hand-worked cases.
"""

import numpy as np
import pandas as pd
import pytest
import talib

from modules.errors import ModuleConfigError
from modules.registry import get_registry

from .conftest import load_sample

REGISTRY = get_registry()
SMA = talib.MA_Type.SMA  # TA-Lib's matype 0


def run(module_id, data, config=None):
    """{output name: array} for a module, through the public ``calculate``."""
    cls = REGISTRY.get_module(module_id)
    full = cls.validate_config(config or {})
    frame = cls().calculate(data, config or {})
    return {o.name: frame[cls.column_name(full, o.name)].to_numpy() for o in cls.outputs}


def bars(high, low, close=None, open_=None, volume=None):
    high, low = np.asarray(high, float), np.asarray(low, float)
    close = (high + low) / 2 if close is None else np.asarray(close, float)
    open_ = close if open_ is None else np.asarray(open_, float)
    volume = np.ones(len(high)) if volume is None else np.asarray(volume, float)
    index = pd.date_range("2024-01-01", periods=len(high), freq="h", tz="UTC")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def close_enough(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9, atol=1e-9, equal_nan=True)


@pytest.fixture(scope="module")
def sample():
    return load_sample()


# ---- TA-Lib modules: equal to the direct call ------------------------------------------


def _hlc(d: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return d["high"].to_numpy(), d["low"].to_numpy(), d["close"].to_numpy()


TALIB_CASES = [
    ("macd", {}, {"macd": 0, "signal": 1, "histogram": 2}, lambda d: talib.MACD(d["close"].to_numpy(), 12, 26, 9)),
    (
        "macd",
        {"fast": 5, "slow": 35, "signal": 5, "source": "hl2"},
        {"macd": 0, "signal": 1, "histogram": 2},
        lambda d: talib.MACD(((d["high"] + d["low"]) / 2).to_numpy(), 5, 35, 5),
    ),
    (
        "bollinger",
        {},
        {"upper": 0, "middle": 1, "lower": 2},
        lambda d: talib.BBANDS(d["close"].to_numpy(), 20, 2.0, 2.0, SMA),
    ),
    (
        "bollinger",
        {"period": 50, "std_dev": 1.5},
        {"upper": 0, "middle": 1, "lower": 2},
        lambda d: talib.BBANDS(d["close"].to_numpy(), 50, 1.5, 1.5, SMA),
    ),
    ("stochastic", {}, {"k": 0, "d": 1}, lambda d: talib.STOCH(*_hlc(d), 14, 3, SMA, 3, SMA)),
    (
        "stochastic",
        {"k_period": 5, "k_smoothing": 1, "d_period": 4},
        {"k": 0, "d": 1},
        lambda d: talib.STOCH(*_hlc(d), 5, 1, SMA, 4, SMA),
    ),
    (
        "adx",
        {},
        {"adx": 0, "plus_di": 1, "minus_di": 2},
        lambda d: (talib.ADX(*_hlc(d), 14), talib.PLUS_DI(*_hlc(d), 14), talib.MINUS_DI(*_hlc(d), 14)),
    ),
    ("adx", {"period": 7}, {"adx": 0}, lambda d: (talib.ADX(*_hlc(d), 7),)),
    ("aroon", {}, {"down": 0, "up": 1}, lambda d: talib.AROON(*_hlc(d)[:2], 25)),
    ("aroon", {"period": 10}, {"oscillator": 0}, lambda d: (talib.AROONOSC(*_hlc(d)[:2], 10),)),
    ("parabolic_sar", {}, {"value": 0}, lambda d: (talib.SAR(*_hlc(d)[:2], 0.02, 0.2),)),
    (
        "parabolic_sar",
        {"acceleration": 0.01, "maximum": 0.1},
        {"value": 0},
        lambda d: (talib.SAR(*_hlc(d)[:2], 0.01, 0.1),),
    ),
    ("linear_regression_slope", {}, {"slope": 0}, lambda d: (talib.LINEARREG_SLOPE(d["close"].to_numpy(), 14),)),
    (
        "linear_regression_slope",
        {"period": 40, "source": "hlc3"},
        {"slope": 0},
        lambda d: (talib.LINEARREG_SLOPE(((d["high"] + d["low"] + d["close"]) / 3).to_numpy(), 40),),
    ),
    (
        "trix",
        {},
        {"value": 0, "signal": 1},
        lambda d: (talib.TRIX(d["close"].to_numpy(), 15), talib.EMA(talib.TRIX(d["close"].to_numpy(), 15), 9)),
    ),
    (
        "trix",
        {"period": 30, "signal": 5, "source": "open"},
        {"value": 0},
        lambda d: (talib.TRIX(d["open"].to_numpy(), 30),),
    ),
]


@pytest.mark.parametrize(
    "module_id,config,mapping,direct", TALIB_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TALIB_CASES)]
)
def test_talib_modules_equal_direct_call(sample, module_id, config, mapping, direct):
    ours = run(module_id, sample, config)
    expected = direct(sample)
    for output, position in mapping.items():
        np.testing.assert_array_equal(ours[output], expected[position], err_msg=output)


def test_macd_trend_and_histogram_sign(sample):
    out = run("macd", sample)
    ok = ~np.isnan(out["histogram"])
    assert set(out["trend"][ok & (out["histogram"] > 0)]) == {"bullish"}
    assert set(out["trend"][ok & (out["histogram"] < 0)]) == {"bearish"}
    assert set(out["trend"][~ok]) == {"neutral"}


def test_macd_rejects_fast_not_below_slow():
    with pytest.raises(ModuleConfigError) as err:
        REGISTRY.get_module("macd").validate_config({"fast": 26, "slow": 26})
    assert err.value.field == "fast"


def test_bollinger_against_pandas_and_percent_b(sample):
    out = run("bollinger", sample)
    close = sample["close"]
    mid = close.rolling(20).mean()
    std = close.rolling(20).std(ddof=0)
    close_enough(out["middle"], mid)
    close_enough(out["upper"], mid + 2 * std)
    close_enough(out["percent_b"], (close - (mid - 2 * std)) / (4 * std))
    close_enough(out["bandwidth"], 4 * std / mid)
    pb = out["percent_b"]
    assert set(out["zone"][pb > 1]) <= {"above_upper"}
    assert set(out["zone"][pb < 0]) <= {"below_lower"}
    assert (out["zone"][:19] == "neutral").all()


def test_bollinger_hand_case():
    # closes 1, 2, 3 -> middle 2, population std sqrt(2/3); close 3 sits at %B = 0.5 + 1/(2*2*std/1)
    out = run("bollinger", bars([1, 2, 3], [1, 2, 3], [1, 2, 3]), {"period": 3, "std_dev": 1.0})
    std = np.sqrt(2 / 3)
    close_enough(out["middle"], [np.nan, np.nan, 2.0])
    close_enough(out["percent_b"], [np.nan, np.nan, (3 - (2 - std)) / (2 * std)])
    # flat prices: zero-width bands give %B 0.5, not a division by zero
    flat = run("bollinger", bars([5] * 4, [5] * 4, [5] * 4), {"period": 3})
    close_enough(flat["percent_b"], [np.nan, np.nan, 0.5, 0.5])


def test_stochastic_zone_levels(sample):
    out = run("stochastic", sample, {"overbought": 75, "oversold": 25})
    k = out["k"]
    assert set(out["zone"][k >= 75]) == {"overbought"} and set(out["zone"][k <= 25]) == {"oversold"}
    with pytest.raises(ModuleConfigError) as err:
        REGISTRY.get_module("stochastic").validate_config({"overbought": 50, "oversold": 50})
    assert err.value.field == "oversold"


def test_adx_trend_state(sample):
    out = run("adx", sample, {"threshold": 20})
    strong = out["adx"] >= 20
    up = strong & (out["plus_di"] > out["minus_di"])
    down = strong & (out["minus_di"] > out["plus_di"])
    assert set(out["trend"][up]) == {"uptrend"} and set(out["trend"][down]) == {"downtrend"}
    assert set(out["trend"][~(up | down)]) == {"no_trend"}


def test_parabolic_sar_direction_and_reversal(sample):
    out = run("parabolic_sar", sample)
    close, sar = sample["close"].to_numpy(), out["value"]
    assert set(out["direction"][close > sar]) == {"bullish"}
    assert set(out["direction"][close < sar]) == {"bearish"}
    flips = np.flatnonzero(out["reversal"])
    assert len(flips) > 5
    assert all(out["direction"][i] != out["direction"][i - 1] for i in flips)


def test_linear_regression_slope_hand_case():
    # close = 2 * t + 1 has slope exactly 2 per bar
    close = 2.0 * np.arange(10) + 1
    out = run("linear_regression_slope", bars(close, close, close), {"period": 5})
    close_enough(out["slope"][4:], np.full(6, 2.0))
    close_enough(out["slope_pct"][4:], 200.0 / close[4:])
    assert (out["direction"][4:] == "rising").all() and (out["direction"][:4] == "flat").all()


# ---- Ichimoku ---------------------------------------------------------------------------


def test_ichimoku_against_pandas(sample):
    out = run("ichimoku", sample)
    hi, lo, close = sample["high"], sample["low"], sample["close"]

    def mid(n):
        return (hi.rolling(n).max() + lo.rolling(n).min()) / 2

    tenkan, kijun = mid(9), mid(26)
    span_a = ((tenkan + kijun) / 2).shift(26)
    span_b = mid(52).shift(26)
    close_enough(out["tenkan"], tenkan)
    close_enough(out["kijun"], kijun)
    close_enough(out["senkou_a"], span_a)
    close_enough(out["senkou_b"], span_b)
    top, bottom = np.maximum(span_a, span_b).to_numpy(), np.minimum(span_a, span_b).to_numpy()
    c = close.to_numpy()
    expected = np.where(c > top, "above_cloud", np.where(c < bottom, "below_cloud", "in_cloud"))
    expected[np.isnan(top)] = "neutral"
    assert (out["position"] == expected).all()
    lagged = close.shift(26).to_numpy()
    chikou = np.where(c > lagged, "bullish", np.where(c < lagged, "bearish", "neutral"))
    assert (out["chikou"] == chikou).all()


def test_ichimoku_matches_ta_library_shifted(sample):
    ta = pytest.importorskip("ta")
    ind = ta.trend.IchimokuIndicator(sample["high"], sample["low"], 9, 26, 52, visual=False)
    out = run("ichimoku", sample)
    warm = 52 + 26  # ta fills its first spans from partial windows; compare once all are full
    close_enough(out["senkou_a"][warm:], ind.ichimoku_a().shift(26)[warm:])
    close_enough(out["senkou_b"][warm:], ind.ichimoku_b().shift(26)[warm:])
    close_enough(out["kijun"][warm:], ind.ichimoku_base_line()[warm:])


def test_ichimoku_hand_case():
    # tenkan 2, kijun 3, span B 4, displacement 2 on highs 1..8 and lows 0..7
    high = np.arange(1.0, 9.0)
    out = run("ichimoku", bars(high, high - 1, high - 0.5), {"tenkan": 2, "kijun": 3, "senkou_b": 4, "displacement": 2})
    # tenkan[t] = (high[t] + low[t-1]) / 2 = (t + 1 + t - 1) / 2 = t
    close_enough(out["tenkan"], [np.nan, 1, 2, 3, 4, 5, 6, 7])
    close_enough(out["kijun"], [np.nan, np.nan, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5])
    # span A computed at t-2 = (tenkan + kijun)/2 at t-2; first at bar 2 -> visible at bar 4
    close_enough(out["senkou_a"], [np.nan] * 4 + [1.75, 2.75, 3.75, 4.75])
    close_enough(out["senkou_b"], [np.nan] * 5 + [2.0, 3.0, 4.0])
    assert list(out["position"]) == ["neutral"] * 5 + ["above_cloud"] * 3
    assert list(out["cloud"]) == ["neutral"] * 5 + ["bullish"] * 3  # span A above span B
    assert list(out["chikou"]) == ["neutral"] * 2 + ["bullish"] * 6


def test_ichimoku_rejects_unordered_periods():
    with pytest.raises(ModuleConfigError) as err:
        REGISTRY.get_module("ichimoku").validate_config({"tenkan": 30})
    assert err.value.field == "tenkan"


# ---- Supertrend ---------------------------------------------------------------------------


def supertrend_reference(high, low, close, period, mult):
    """TradingView's ta.supertrend written out bar by bar, with a Wilder ATR loop."""
    n = len(close)
    tr = np.empty(n)
    tr[0] = np.nan
    for t in range(1, n):
        tr[t] = max(high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
    atr = np.full(n, np.nan)
    atr[period] = np.mean(tr[1 : period + 1])
    for t in range(period + 1, n):
        atr[t] = (atr[t - 1] * (period - 1) + tr[t]) / period
    line, direction = np.full(n, np.nan), np.array(["neutral"] * n, dtype=object)
    upper = lower = None
    for t in range(period, n):
        hl2 = (high[t] + low[t]) / 2
        up, lo = hl2 + mult * atr[t], hl2 - mult * atr[t]
        if upper is None:
            upper, lower, d = up, lo, "bearish"
        else:
            upper = up if (up < upper or close[t - 1] > upper) else upper
            lower = lo if (lo > lower or close[t - 1] < lower) else lower
            if direction[t - 1] == "bearish":
                d = "bullish" if close[t] > upper else "bearish"
            else:
                d = "bearish" if close[t] < lower else "bullish"
        direction[t] = d
        line[t] = lower if d == "bullish" else upper
    return line, direction


@pytest.mark.parametrize("config", [{}, {"period": 7, "multiplier": 1.5}])
def test_supertrend_against_reference(sample, config):
    out = run("supertrend", sample, config)
    full = REGISTRY.get_module("supertrend").validate_config(config)
    high, low, close = (sample[c].to_numpy() for c in ("high", "low", "close"))
    line, direction = supertrend_reference(high, low, close, full["period"], full["multiplier"])
    close_enough(out["value"], line)
    assert (out["direction"] == direction).all()
    flips = np.zeros(len(line), bool)
    flips[1:] = (direction[1:] != direction[:-1]) & (direction[:-1] != "neutral")
    assert (out["reversal"] == flips).all() and flips.sum() > 3


def test_supertrend_hand_case():
    # period 1: ATR = true range. Bars 0-3 are flat 9..11 (TR 2), then price jumps to 20..22.
    high = [11, 11, 11, 11, 22, 22]
    low = [9, 9, 9, 9, 20, 20]
    close = [10, 10, 10, 10, 21, 21]
    out = run("supertrend", bars(high, low, close), {"period": 1, "multiplier": 1.0})
    # bar 1: ATR 2, bands 10 +/- 2 = 12 / 8, starts bearish on the upper band 12;
    # bars 2-3 keep 12. Bar 4: TR = 22 - 10 = 12, basic bands 33 / 9; upper stays 12 (33 > 12 and
    # the previous close 10 did not break it); close 21 > 12 -> bullish on the lower band
    # max(9, 8) = 9. Bar 5: TR 2, basic lower 19 > 9 -> 19.
    close_enough(out["value"], [np.nan, 12, 12, 12, 9, 19])
    assert list(out["direction"]) == ["neutral"] + ["bearish"] * 3 + ["bullish"] * 2
    assert list(out["reversal"]) == [False, False, False, False, True, False]


# ---- Heikin-Ashi --------------------------------------------------------------------------


def test_heikin_ashi_against_loop(sample):
    out = run("heikin_ashi_trend", sample, {"confirm": 3})
    open_, high, low, close = (sample[k].to_numpy() for k in ("open", "high", "low", "close"))
    ha_c = (open_ + high + low + close) / 4
    ha_o = np.empty(len(close))
    ha_o[0] = (open_[0] + close[0]) / 2
    streak = np.zeros(len(close))
    for t in range(len(close)):
        if t:
            ha_o[t] = (ha_o[t - 1] + ha_c[t - 1]) / 2
        s = np.sign(ha_c[t] - ha_o[t])
        streak[t] = s * (abs(streak[t - 1]) + 1) if t and s and np.sign(streak[t - 1]) == s else s
    close_enough(out["ha_open"], ha_o)
    close_enough(out["ha_close"], ha_c)
    close_enough(out["ha_high"], np.maximum.reduce([high, ha_o, ha_c]))
    close_enough(out["ha_low"], np.minimum.reduce([low, ha_o, ha_c]))
    close_enough(out["streak"], streak)
    trend = np.where(streak >= 3, "bullish", np.where(streak <= -3, "bearish", "neutral"))
    assert (out["trend"] == trend).all()
    assert 0 < out["strong"].sum() < len(close)


def test_heikin_ashi_hand_case():
    open_ = [10, 12, 14, 13]
    high = [12, 15, 15, 13]
    low = [9, 11, 12, 8]
    close = [12, 14, 13, 9]
    out = run("heikin_ashi_trend", bars(high, low, close, open_))
    # HA close = OHLC/4: 10.75, 13, 13.5, 10.75; HA open: 11, (11+10.75)/2 = 10.875,
    # (10.875+13)/2 = 11.9375, (11.9375+13.5)/2 = 12.71875
    close_enough(out["ha_close"], [10.75, 13, 13.5, 10.75])
    close_enough(out["ha_open"], [11, 10.875, 11.9375, 12.71875])
    close_enough(out["ha_high"], [12, 15, 15, 13])
    close_enough(out["ha_low"], [9, 10.875, 11.9375, 8])
    close_enough(out["streak"], [-1, 1, 2, -1])
    assert list(out["trend"]) == ["bearish", "bullish", "bullish", "bearish"]
    # bar 1 and 2: bullish with HA low == HA open (no lower shadow) -> strong
    assert list(out["strong"]) == [False, True, True, False]


def test_rsi_of_a_flat_series_is_50_not_talibs_0():
    # given a market that does not move for 30 bars, then only falls
    close = np.concatenate([np.full(30, 100.0), np.linspace(99.0, 90.0, 10)])
    # when RSI(14) is computed
    rsi = run("rsi", bars(close + 0.5, close - 0.5, close))["value"]
    # then the flat bars read 50 (neutral), and a fall with no gain is still a true 0
    assert np.isnan(rsi[:14]).all()
    assert (rsi[14:30] == 50.0).all()
    assert (rsi[30:] == 0.0).all()
    # and a rise only is 100
    rise = np.linspace(90.0, 99.0, 20)
    assert run("rsi", bars(rise + 0.5, rise - 0.5, rise))["value"][-1] == 100.0
