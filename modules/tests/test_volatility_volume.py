"""Golden values for the volatility and volume modules.

Each module is checked on the shipped sample against an independent reference written here
(plain loops / pandas), and on a small hand-made case. TA-Lib modules are checked against a
direct TA-Lib call.
"""

import numpy as np
import pandas as pd
import pytest
import talib

from modules.registry import get_registry

from .conftest import load_sample

REGISTRY = get_registry()


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def run(module_id, data, **config):
    """``{output name: array}`` for ``module_id`` with ``config`` on ``data``."""
    cls = REGISTRY.get_module(module_id)
    full = cls.validate_config(config)
    frame = cls().calculate(data, config)
    return {o.name: frame[cls.column_name(full, o.name)].to_numpy() for o in cls.outputs}


def bars(rows, start="2024-01-01", freq="h"):
    """A small OHLCV frame from (open, high, low, close, volume) rows."""
    index = pd.date_range(start, periods=len(rows), freq=freq, tz="UTC")
    return pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], index=index, dtype=float)


def close_all(actual, expected, rtol=1e-9, atol=1e-9):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), "NaN positions differ"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


# ---- independent references ------------------------------------------------------------------
def ema_ref(x, n):
    """EMA seeded with the SMA of the first n values after leading NaNs (TA-Lib convention)."""
    out = np.full(len(x), np.nan)
    start = int(np.argmax(~np.isnan(x)))
    if len(x) - start < n:
        return out
    value = float(np.mean(x[start : start + n]))
    out[start + n - 1] = value
    alpha = 2.0 / (n + 1)
    for i in range(start + n, len(x)):
        value = alpha * x[i] + (1 - alpha) * value
        out[i] = value
    return out


def true_range(df):
    prev = df["close"].shift()
    return (
        pd.concat([df["high"] - df["low"], (df["high"] - prev).abs(), (df["low"] - prev).abs()], axis=1)
        .max(axis=1, skipna=False)
        .to_numpy()
    )


def atr_ref(df, n):
    """Wilder's ATR: mean of TR[1..n] at bar n, then (ATR * (n - 1) + TR) / n."""
    tr = true_range(df)
    out = np.full(len(df), np.nan)
    value = tr[1 : n + 1].mean()
    out[n] = value
    for i in range(n + 1, len(df)):
        value = (value * (n - 1) + tr[i]) / n
        out[i] = value
    return out


# ---- TA-Lib modules --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "module_id, output, direct",
    [
        ("natr", "value", lambda d: talib.NATR(d.high.values, d.low.values, d.close.values, 14)),
        ("obv", "value", lambda d: talib.OBV(d.close.values, d.volume.values)),
        ("ad_line", "value", lambda d: talib.AD(d.high.values, d.low.values, d.close.values, d.volume.values)),
    ],
)
def test_talib_modules_equal_direct_call(sample, module_id, output, direct):
    np.testing.assert_array_equal(run(module_id, sample)[output], direct(sample))


def test_signal_lines_and_trends(sample):
    for module_id in ("obv", "ad_line"):
        out = run(module_id, sample, signal_period=10)
        signal = pd.Series(out["value"]).rolling(10).mean().to_numpy()
        close_all(out["signal"], signal, rtol=1e-7, atol=1e-3)
        assert (out["trend"][10:][out["value"][10:] > signal[10:] + 1] == "rising").all()
    out = run("natr", sample)
    average = pd.Series(out["value"]).rolling(100).mean().to_numpy()
    close_all(out["average"], average, rtol=1e-9)
    ok = ~np.isnan(average)
    assert (out["regime"][ok] == np.where(out["value"][ok] > average[ok], "high", "low")).all()


def test_hand_natr_obv_ad():
    flat = bars([(100, 101, 99, 100, 10)] * 20)
    assert run("natr", flat, period=5)["value"][5:] == pytest.approx(2.0)  # range 2 on 100
    small = bars([(1, 1, 1, 1, 10), (2, 2, 2, 2, 20), (2, 2, 2, 2, 30), (1, 1, 1, 1, 40)])
    assert list(run("obv", small, signal_period=2)["value"]) == [10, 30, 30, -10]
    # A/D: close at the high adds the volume, at the low subtracts it, mid-range adds 0
    ad = bars([(1, 2, 1, 2, 10), (1, 2, 1, 1, 5), (1, 3, 1, 2, 7)])
    assert list(run("ad_line", ad, signal_period=2)["value"]) == [10, 5, 5]


# ---- Keltner Channels ------------------------------------------------------------------------
def test_keltner_matches_reference(sample):
    out = run("keltner_channels", sample, period=20, multiplier=2.0, atr_period=10)
    middle = ema_ref(sample["close"].to_numpy(), 20)
    atr = atr_ref(sample, 10)
    close_all(out["middle"], middle)
    close_all(out["upper"], middle + 2 * atr, rtol=1e-9, atol=1e-7)
    close_all(out["lower"], middle - 2 * atr, rtol=1e-9, atol=1e-7)
    c = sample["close"].to_numpy()
    close_all(out["percent"], (c - (middle - 2 * atr)) / (4 * atr), rtol=1e-7, atol=1e-9)
    ok = ~np.isnan(middle)
    expected = np.where(c > middle + 2 * atr, "above_upper", np.where(c < middle - 2 * atr, "below_lower", "inside"))
    assert (out["zone"][ok] == expected[ok]).all() and (out["zone"][~ok] == "neutral").all()


def test_keltner_hand_case():
    out = run("keltner_channels", bars([(100, 101, 99, 100, 1)] * 12), period=3, multiplier=2, atr_period=3)
    assert out["middle"][-1] == pytest.approx(100)
    assert out["upper"][-1] == pytest.approx(104) and out["lower"][-1] == pytest.approx(96)
    assert out["percent"][-1] == pytest.approx(0.5) and out["zone"][-1] == "inside"


# ---- Donchian Channels -----------------------------------------------------------------------
def test_donchian_matches_reference(sample):
    out = run("donchian_channels", sample, period=20)
    upper = sample["high"].rolling(20).max().to_numpy()
    lower = sample["low"].rolling(20).min().to_numpy()
    close_all(out["upper"], upper)
    close_all(out["lower"], lower)
    close_all(out["middle"], (upper + lower) / 2)
    c = sample["close"].to_numpy()
    close_all(out["percent"], (c - lower) / (upper - lower))
    for t in range(20, len(c)):
        expected = "up" if c[t] > upper[t - 1] else "down" if c[t] < lower[t - 1] else "inside"
        assert out["breakout"][t] == expected


def test_donchian_hand_case():
    highs = [1, 3, 2, 5, 4]
    rows = [(h - 0.5, h, h - 1, c, 1) for h, c in zip(highs, [0.5, 2, 1.5, 4.5, 3.5])]
    out = run("donchian_channels", bars(rows), period=3)
    close_all(out["upper"], [np.nan, np.nan, 3, 5, 5])
    close_all(out["lower"], [np.nan, np.nan, 0, 1, 1])
    assert list(out["breakout"]) == ["neutral", "neutral", "neutral", "up", "inside"]


# ---- Bollinger BandWidth ---------------------------------------------------------------------
def test_bollinger_width_matches_reference(sample):
    out = run("bollinger_width", sample, period=20, std_dev=2.0, squeeze_lookback=50)
    close = sample["close"]
    mid = close.rolling(20).mean()
    std = close.rolling(20).std(ddof=0)
    width = (100 * 4 * std / mid).to_numpy()
    close_all(out["value"], width, rtol=1e-6, atol=1e-9)
    lowest = pd.Series(out["value"]).rolling(50).min().to_numpy()
    assert (out["squeeze"] == (out["value"] <= lowest)).all()
    assert out["squeeze"].any() and out["squeeze"].dtype == bool


def test_bollinger_width_hand_case():
    rows = [(c, c, c, c, 1) for c in (1, 3, 1, 3, 1, 3)]
    out = run("bollinger_width", bars(rows), period=2, std_dev=2.0, squeeze_lookback=2)
    # each window is {1, 3}: mean 2, population std 1 -> bands 0..4 -> width 4 / 2 = 200 %
    close_all(out["value"], [np.nan, 200, 200, 200, 200, 200])
    assert list(out["squeeze"]) == [False, False, True, True, True, True]


# ---- Historical volatility -------------------------------------------------------------------
def test_historical_volatility_matches_reference(sample):
    out = run("historical_volatility", sample, period=20, trading_days=252)
    c = sample["close"].to_numpy()
    r = np.log(c[1:] / c[:-1])
    expected = np.full(len(c), np.nan)
    for t in range(20, len(c)):
        expected[t] = np.std(r[t - 20 : t], ddof=1) * np.sqrt(252 * 24) * 100  # hourly bars
    close_all(out["value"], expected, rtol=1e-8)


def test_historical_volatility_hand_case():
    rows = [(c, c, c, c, 1) for c in (100, 110, 100, 110, 100, 110)]
    a = np.log(1.1)
    out = run("historical_volatility", bars(rows, freq="D"), period=4, annualize=False)
    # returns +a, -a, +a, -a: sample std = a * sqrt(4 / 3)
    assert out["value"][4] == pytest.approx(100 * a * np.sqrt(4 / 3))
    daily = run("historical_volatility", bars(rows, freq="D"), period=4, trading_days=252)
    assert daily["value"][4] == pytest.approx(out["value"][4] * np.sqrt(252))


# ---- VWAP ------------------------------------------------------------------------------------
def vwap_ref(df, session):
    """Per bar: weighted mean / std of the typical price over the session's bars so far."""
    tp = ((df["high"] + df["low"] + df["close"]) / 3).to_numpy()
    v = df["volume"].to_numpy()
    mean, std = np.full(len(df), np.nan), np.full(len(df), np.nan)
    for t in range(len(df)):
        s = np.flatnonzero(session[: t + 1] == session[t])
        if v[s].sum() > 0:
            mean[t] = np.average(tp[s], weights=v[s])
            std[t] = np.sqrt(np.average((tp[s] - mean[t]) ** 2, weights=v[s]))
    return mean, std


@pytest.mark.parametrize("anchor, hour", [("day", 0), ("day", 22), ("week", 0), ("week", 7), ("week", 22)])
def test_vwap_matches_reference(sample, anchor, hour):
    out = run("vwap", sample, anchor=anchor, session_start_hour=hour, band_mult=2.0)
    # sessions starting at 12:00 or later are named after the next day (Sunday 22:00 = Monday)
    shifted = sample.index - pd.Timedelta(hours=hour) + pd.Timedelta(days=int(hour >= 12))
    if anchor == "day":
        session = np.asarray(shifted.normalize().asi8)
    else:
        session = np.asarray((shifted.normalize() - pd.to_timedelta(shifted.day_of_week, "D")).asi8)
    mean, std = vwap_ref(sample, session)
    close_all(out["value"], mean, rtol=1e-10)
    close_all(out["upper"], mean + 2 * std, rtol=1e-10)
    close_all(out["lower"], mean - 2 * std, rtol=1e-10)


def test_vwap_hand_case():
    # day 1: typical prices 10 (vol 1), 20 (vol 3) -> 12.5, 17.5; day 2 resets
    rows = [(10, 10, 10, 10, 1), (20, 20, 20, 20, 3), (30, 30, 30, 30, 2)]
    index = pd.DatetimeIndex(["2024-01-01 22:00", "2024-01-01 23:00", "2024-01-02 00:00"], tz="UTC")
    df = pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], index=index, dtype=float)
    out = run("vwap", df)
    close_all(out["value"], [10, 17.5, 30])
    # std of {10 x1, 20 x3} around 17.5 = sqrt((56.25 + 3 * 6.25) / 4) = sqrt(18.75)
    assert out["upper"][1] == pytest.approx(17.5 + np.sqrt(18.75))
    assert list(out["position"]) == ["neutral", "above", "neutral"]
    # a session starting at 23:00 UTC puts the last two bars together
    close_all(run("vwap", df, session_start_hour=23)["value"], [10, 20, 30 * 2 / 5 + 20 * 3 / 5])


def test_vwap_weekly_sessions_start_sunday_evening_for_fx_hours():
    index = pd.DatetimeIndex(
        ["2024-01-05 20:00", "2024-01-07 21:00", "2024-01-07 22:00", "2024-01-08 09:00"], tz="UTC"
    )  # Fri, Sun, Sun 22:00, Mon
    rows = [(p, p, p, p, 1) for p in (10, 20, 30, 40)]
    df = pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], index=index, dtype=float)
    close_all(run("vwap", df, anchor="week", session_start_hour=22)["value"], [10, 15, 30, 35])
    close_all(run("vwap", df, anchor="week", session_start_hour=0)["value"], [10, 15, 20, 40])


# ---- Volume profile --------------------------------------------------------------------------
def profile_ref(df, period, bins, va):
    """Brute force: rebuild the histogram bin by bin at every bar."""
    high, low, volume = (df[k].to_numpy() for k in ("high", "low", "volume"))
    n = len(df)
    poc, vah, val = (np.full(n, np.nan) for _ in range(3))
    for t in range(period - 1, n):
        w = slice(t - period + 1, t + 1)
        top, bottom = high[w].max(), low[w].min()
        edges = bottom + (top - bottom) * np.arange(bins + 1) / bins
        hist = np.zeros(bins)
        for lo, hi, vol in zip(low[w], high[w], volume[w]):
            a = min(int((lo - bottom) * bins / (top - bottom)), bins - 1)
            b = min(int((hi - bottom) * bins / (top - bottom)), bins - 1)
            hist[a : b + 1] += vol / (b - a + 1)
        tol = 1e-9 * hist.sum()
        best = 0
        for k in range(1, bins):
            if hist[k] > hist[best] + tol:
                best = k
        lo_k = hi_k = best
        acc = hist[best]
        while acc < va * hist.sum() - tol and (lo_k > 0 or hi_k < bins - 1):
            up = hist[hi_k + 1] if hi_k < bins - 1 else -np.inf
            down = hist[lo_k - 1] if lo_k > 0 else -np.inf
            if up >= down - tol:
                hi_k += 1
                acc += up
            else:
                lo_k -= 1
                acc += down
        poc[t] = (edges[best] + edges[best + 1]) / 2
        vah[t], val[t] = edges[hi_k + 1], edges[lo_k]
    return poc, vah, val


@pytest.mark.parametrize("period, bins, va", [(50, 20, 70), (100, 24, 70), (30, 7, 85)])
def test_volume_profile_matches_reference(sample, period, bins, va):
    out = run("volume_profile", sample, period=period, bins=bins, value_area=va)
    poc, vah, val = profile_ref(sample, period, bins, va / 100)
    close_all(out["poc"], poc, rtol=1e-9)
    close_all(out["vah"], vah, rtol=1e-9)
    close_all(out["val"], val, rtol=1e-9)
    c = sample["close"].to_numpy()
    ok = ~np.isnan(poc)
    expected = np.where(c > vah, "above_value", np.where(c < val, "below_value", "in_value"))
    assert (out["position"][ok] == expected[ok]).all()


def test_volume_profile_hand_case():
    # window 0..10 in 2 bins [0, 5) and [5, 10]: bar A (0-4, vol 10) -> bin 0,
    # bar B (6-10, vol 30) -> bin 1, bar C (0-10, vol 10) -> 5 in each. Bin 1 holds 35 of 50.
    rows = [(2, 4, 0, 3, 10), (8, 10, 6, 9, 30), (5, 10, 0, 5, 10)]
    out = run("volume_profile", bars(rows), period=3, bins=2, value_area=70)
    assert out["poc"][2] == 7.5 and out["vah"][2] == 10 and out["val"][2] == 5
    assert out["position"][2] == "in_value"
    wide = run("volume_profile", bars(rows), period=3, bins=2, value_area=80)
    assert wide["val"][2] == 0  # 35 < 40: the value area takes the lower bin too


# ---- CMF and Force Index ---------------------------------------------------------------------
def test_cmf_matches_reference(sample):
    out = run("cmf", sample, period=20)
    high, low, close, volume = (sample[k] for k in ("high", "low", "close", "volume"))
    mfm = ((close - low) - (high - close)) / (high - low)
    expected = ((mfm.fillna(0) * volume).rolling(20).sum() / volume.rolling(20).sum()).to_numpy()
    close_all(out["value"], expected, rtol=1e-8, atol=1e-12)


def test_cmf_hand_case():
    rows = [(1, 2, 1, 2, 10), (1, 2, 1, 1, 30), (1, 2, 1, 1.5, 10), (1, 1, 1, 1, 50)]
    out = run("cmf", bars(rows), period=2, threshold=0.1)
    close_all(out["value"], [np.nan, (10 - 30) / 40, -30 / 40, 0])
    assert list(out["pressure"]) == ["neutral", "selling", "selling", "neutral"]


def test_force_index_matches_reference(sample):
    out = run("force_index", sample, period=13)
    raw = (sample["close"].diff() * sample["volume"]).to_numpy()
    close_all(out["value"], ema_ref(raw, 13), rtol=1e-9, atol=1e-6)


def test_force_index_hand_case():
    rows = [(c, c, c, c, v) for c, v in ((10, 5), (12, 10), (11, 20))]
    out = run("force_index", bars(rows), period=1)
    close_all(out["value"], [np.nan, 20, -20])
    assert list(out["bias"]) == ["neutral", "bullish", "bearish"]
