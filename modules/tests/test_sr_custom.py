"""Golden values for the support/resistance and custom modules.

Each module is checked on the shipped sample against an independent reference written here
(plain loops / pandas), and on a small hand-made case.
"""

import numpy as np
import pandas as pd
import pytest
import talib

from modules.common.swings_sr import confirmed_swings

from .conftest import load_sample
from .test_volatility_volume import atr_ref, bars, close_all, ema_ref, run, true_range


@pytest.fixture(scope="module")
def sample():
    return load_sample()


# ---- swings ----------------------------------------------------------------------------------
def swings_ref(high, low, left, right):
    """[(confirm bar, 'high'/'low', price)] in confirmation order, by plain loops."""
    out = []
    for i in range(left, len(high) - right):
        is_high = all(high[i] > high[j] for j in range(i - left, i)) and all(
            high[i] >= high[j] for j in range(i + 1, i + right + 1)
        )
        is_low = all(low[i] < low[j] for j in range(i - left, i)) and all(
            low[i] <= low[j] for j in range(i + 1, i + right + 1)
        )
        if is_high:
            out.append((i + right, "high", high[i]))
        if is_low:
            out.append((i + right, "low", low[i]))
    return out


@pytest.mark.parametrize("left, right", [(5, 5), (2, 3), (1, 1)])
def test_confirmed_swings_match_reference(sample, left, right):
    high, low = sample["high"].to_numpy(), sample["low"].to_numpy()
    sh, sl = confirmed_swings(high, low, left, right)
    ref = swings_ref(high, low, left, right)
    assert [(t, sh[t]) for t in np.flatnonzero(~np.isnan(sh))] == [(t, p) for t, kind, p in ref if kind == "high"]
    assert [(t, sl[t]) for t in np.flatnonzero(~np.isnan(sl))] == [(t, p) for t, kind, p in ref if kind == "low"]


# ---- pivot points / Camarilla ----------------------------------------------------------------
def previous_day_ref(df, hour):
    day = (df.index - pd.Timedelta(hours=hour)).normalize()
    daily = df.groupby(day).agg(high=("high", "max"), low=("low", "min"), close=("close", "last"))
    prev = daily.shift(1).reindex(day)
    return prev["high"].to_numpy(), prev["low"].to_numpy(), prev["close"].to_numpy()


@pytest.mark.parametrize("hour", [0, 22])
def test_pivot_points_match_reference(sample, hour):
    out = run("pivot_points", sample, day_start_hour=hour)
    prev_high, prev_low, prev_close = previous_day_ref(sample, hour)
    p = (prev_high + prev_low + prev_close) / 3
    close_all(out["pivot"], p)
    close_all(out["r1"], 2 * p - prev_low)
    close_all(out["s1"], 2 * p - prev_high)
    close_all(out["r2"], p + prev_high - prev_low)
    close_all(out["s2"], p - (prev_high - prev_low))
    close_all(out["r3"], prev_high + 2 * (p - prev_low))
    close_all(out["s3"], prev_low - 2 * (prev_high - p))
    close = sample["close"].to_numpy()
    ok = ~np.isnan(p)
    assert (out["bias"][ok] == np.where(close > p, "above", "below")[ok]).all()
    levels = [out[k] for k in ("s3", "s2", "s1")] + [p] + [out[k] for k in ("r1", "r2", "r3")]
    names = ["below_s3", "s3_to_s2", "s2_to_s1", "s1_to_pivot", "pivot_to_r1", "r1_to_r2", "r2_to_r3", "above_r3"]
    for t in np.flatnonzero(ok):
        k = sum(close[t] >= lv[t] for lv in levels[:4]) + sum(close[t] > lv[t] for lv in levels[4:])
        assert out["zone"][t] == names[k]
    assert (out["zone"][~ok] == "neutral").all()


def two_days():
    rows = [
        (95, 110, 95, 100, 1),
        (100, 105, 90, 100, 1),  # day 1: H 110, L 90, C 100
        (100, 131, 99, 131, 1),
        (120, 121, 100, 105, 1),
    ]  # day 2
    index = pd.DatetimeIndex(["2024-01-01 10:00", "2024-01-01 20:00", "2024-01-02 01:00", "2024-01-02 02:00"], tz="UTC")
    return pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], index=index, dtype=float)


def test_pivot_points_hand_case():
    out = run("pivot_points", two_days())
    assert np.isnan(out["pivot"][:2]).all()
    for name, value in {"pivot": 100, "r1": 110, "s1": 90, "r2": 120, "s2": 80, "r3": 130, "s3": 70}.items():
        assert list(out[name][2:]) == [value, value], name
    assert list(out["zone"]) == ["neutral", "neutral", "above_r3", "pivot_to_r1"]
    assert list(out["bias"]) == ["neutral", "neutral", "above", "above"]


def test_camarilla_matches_reference(sample):
    out = run("camarilla", sample)
    prev_high, prev_low, prev_close = previous_day_ref(sample, 0)
    for k, d in ((1, 12), (2, 6), (3, 4), (4, 2)):
        close_all(out[f"r{k}"], prev_close + (prev_high - prev_low) * 1.1 / d)
        close_all(out[f"s{k}"], prev_close - (prev_high - prev_low) * 1.1 / d)
    close_all(out["pivot"], (prev_high + prev_low + prev_close) / 3)
    close = sample["close"].to_numpy()
    ok = ~np.isnan(prev_close)
    expected = np.select(
        [close > out["r4"], close > out["r3"], close >= out["s3"], close >= out["s4"]],
        ["above_r4", "r3_to_r4", "inside", "s4_to_s3"],
        "below_s4",
    )
    assert (out["zone"][ok] == expected[ok]).all() and (out["zone"][~ok] == "neutral").all()


def test_camarilla_hand_case():
    out = run("camarilla", two_days())  # range 20 * 1.1 = 22 around close 100
    assert out["r4"][2] == pytest.approx(111) and out["s4"][2] == pytest.approx(89)
    assert out["r3"][2] == pytest.approx(105.5) and out["s1"][2] == pytest.approx(100 - 22 / 12)
    assert list(out["zone"]) == ["neutral", "neutral", "above_r4", "inside"]


# ---- Fibonacci -------------------------------------------------------------------------------
def fibonacci_ref(df, left, right):
    high, low, close = (df[k].to_numpy() for k in ("high", "low", "close"))
    events: dict[int, list[tuple[str, float]]] = {}
    for t, kind, price in swings_ref(high, low, left, right):
        events.setdefault(t, []).append((kind, price))
    last = {"high": np.nan, "low": np.nan}
    up = True
    rows = []
    for t in range(len(df)):
        kinds = [k for k, _ in events.get(t, [])]
        for kind, price in events.get(t, []):
            last[kind] = price
        if kinds:
            up = "high" in kinds
        hi, lo = last["high"], last["low"]
        if hi > lo:
            if up:
                r = (hi - close[t]) / (hi - lo)
                levels = [hi - x * (hi - lo) for x in (0.236, 0.382, 0.5, 0.618, 0.786)]
            else:
                r = (close[t] - lo) / (hi - lo)
                levels = [lo + x * (hi - lo) for x in (0.236, 0.382, 0.5, 0.618, 0.786)]
            rows.append((hi, lo, r, *levels, "up" if up else "down"))
        else:
            rows.append((hi, lo, np.nan, *[np.nan] * 5, "neutral"))
    return rows


def test_fibonacci_matches_reference(sample):
    out = run("fibonacci", sample, left=4, right=3)
    ref = fibonacci_ref(sample, 4, 3)
    close_all(out["swing_high"], [r[0] for r in ref])
    close_all(out["swing_low"], [r[1] for r in ref])
    close_all(out["retracement"], [r[2] for r in ref])
    for k, name in enumerate(("level_236", "level_382", "level_500", "level_618", "level_786")):
        close_all(out[name], [r[3 + k] for r in ref])
    assert list(out["direction"]) == [r[8] for r in ref]
    edges = [0, 0.236, 0.382, 0.5, 0.618, 0.786]
    names = ["beyond_end", "0_236", "236_382", "382_500", "500_618", "618_786", "786_1000"]
    for t, r in enumerate(out["retracement"]):
        if np.isnan(r):
            assert out["zone"][t] == "neutral"
        elif r > 1:
            assert out["zone"][t] == "beyond_start"
        else:
            assert out["zone"][t] == names[sum(r >= e for e in edges)]


def test_fibonacci_hand_case():
    # swing low 10 at bar 1 (known at bar 2), swing high 20 at bar 3 (known at bar 4)
    highs = [13, 12, 15, 20, 18, 17]
    lows = [11, 10, 12, 16, 15, 13.82]
    rows = [(lo, hi, lo, (hi + lo) / 2, 1) for hi, lo in zip(highs, lows)]
    rows[-1] = (14, 17, 13.82, 14, 1)
    out = run("fibonacci", bars(rows), left=1, right=1)
    assert list(out["direction"]) == ["neutral"] * 4 + ["up", "up"]
    assert out["level_618"][4] == pytest.approx(20 - 6.18)
    assert out["level_236"][4] == pytest.approx(17.64)
    assert out["retracement"][5] == pytest.approx(0.6)  # close 14: 6 of the 10-point leg
    assert out["zone"][5] == "500_618"


# ---- S/R zones -------------------------------------------------------------------------------
def sr_zones_ref(df, left, right, lookback, zone_width, atr_period, min_touches):
    high, low, close = (df[k].to_numpy() for k in ("high", "low", "close"))
    atr = atr_ref(df, atr_period)
    swings = [(t, p) for t, _, p in swings_ref(high, low, left, right)]
    zones: list[tuple[float, int]] = []  # (price, touches)
    rows, previous, half = [], None, np.nan
    for t in range(len(df)):
        active = [(c, p) for c, p in swings if c <= t and c - right > t - lookback]
        if active != previous:  # the swing set changed: cluster again with today's ATR
            previous = active
            width, half, zones = zone_width * atr[t], zone_width * atr[t] / 2, []
            prices = sorted(p for _, p in active)
            while prices and width > 0:
                members = [p for p in prices if p - prices[0] <= width]
                prices = prices[len(members) :]
                if len(members) >= min_touches:
                    zones.append((np.mean(members), len(members)))
        below = [z for z in zones if z[0] <= close[t]]
        above = [z for z in zones if z[0] > close[t]]
        s = below[-1] if below else (np.nan, np.nan)
        r = above[0] if above else (np.nan, np.nan)
        if not zones:
            state = "neutral"
        else:
            in_s = close[t] <= s[0] + half
            in_r = close[t] >= r[0] - half
            if in_r and (not in_s or close[t] - s[0] > r[0] - close[t]):
                state = "in_resistance"
            else:
                state = "in_support" if in_s else "outside"
        rows.append((state, s[0], r[0], s[1], r[1], s[0] + half, r[0] - half))
    return rows


@pytest.mark.parametrize(
    "config",
    [
        {"left": 5, "right": 5, "lookback": 300, "zone_width": 1.0, "atr_period": 14, "min_touches": 2},
        {"left": 3, "right": 2, "lookback": 120, "zone_width": 0.5, "atr_period": 10, "min_touches": 1},
    ],
)
def test_sr_zones_match_reference(sample, config):
    out = run("sr_zones", sample, **config)
    ref = sr_zones_ref(sample, **config)
    assert list(out["state"]) == [r[0] for r in ref]
    for k, name in enumerate(
        ("support", "resistance", "support_touches", "resistance_touches", "support_top", "resistance_bottom"), start=1
    ):
        close_all(out[name], [r[k] for r in ref], rtol=1e-9, atol=1e-8)


def test_sr_zones_hand_case():
    # swing highs 20 and 20.2 (bars 2 and 6, known at 3 and 7), swing lows 10 and 10.1 (bars 4
    # and 8, known at 5 and 9). Zones are rebuilt at bar 9 with ATR(1) = TR = 16 - 11.1 = 4.9:
    # width 0.5 * 4.9 = 2.45, so the pairs cluster into 10.05 and 20.1, 2 touches each.
    highs = [15, 16, 20, 16, 12, 16, 20.2, 16, 12.1, 16, 19, 19.5]
    rows = [(h - 1, h, h - 2, h - 1, 1) for h in highs]
    rows[4] = (11, 12, 10, 11, 1)
    rows[8] = (11.1, 12.1, 10.1, 11.1, 1)
    rows[11] = (18, 19.5, 17.5, 19.5, 1)
    out = run("sr_zones", bars(rows), left=1, right=1, lookback=100, zone_width=0.5, atr_period=1, min_touches=2)
    assert out["support"][-1] == pytest.approx(10.05) and out["support_touches"][-1] == 2
    assert out["support_top"][-1] == pytest.approx(10.05 + 1.225)
    assert out["resistance"][-1] == pytest.approx(20.1)
    assert out["resistance_bottom"][-1] == pytest.approx(20.1 - 1.225)
    # closes 18 (below 18.875) and 19.5 (inside the resistance zone)
    assert list(out["state"][-2:]) == ["outside", "in_resistance"]
    # no zone before the second swing high (min_touches = 2) is known at bar 7
    assert list(out["state"][:8]) == ["neutral"] * 7 + ["outside"]
    assert np.isnan(out["support"][8]) and out["support"][9] == pytest.approx(10.05)


# ---- custom: choppiness, vortex, CMO, DPO, Coppock, Elder-Ray, RVI -----------------------------
def test_choppiness_matches_reference(sample):
    out = run("choppiness", sample, period=14)
    tr = pd.Series(true_range(sample)).fillna(sample["high"].iloc[0] - sample["low"].iloc[0])
    span = (sample["high"].rolling(14).max() - sample["low"].rolling(14).min()).to_numpy()
    expected = 100 * np.log10(tr.rolling(14).sum().to_numpy() / span) / np.log10(14)
    close_all(out["value"], expected, rtol=1e-8)


def test_choppiness_hand_case():
    # a straight staircase: TR sum equals the window range -> CHOP 0 (trending)
    rows = [(i, i + 1, i, i + 1, 1) for i in range(5)]
    out = run("choppiness", bars(rows), period=3)
    close_all(out["value"], [np.nan, np.nan, 0, 0, 0], atol=1e-12)
    assert out["regime"][-1] == "trending"
    # a flat range repeated: TR sum = 3 * range -> CHOP 100 (choppy)
    flat = run("choppiness", bars([(1, 2, 1, 1.5, 1)] * 5), period=3)
    assert flat["value"][-1] == pytest.approx(100) and flat["regime"][-1] == "choppy"


def test_vortex_matches_reference(sample):
    out = run("vortex_indicator", sample, period=14)
    high, low = sample["high"], sample["low"]
    tr = pd.Series(true_range(sample)).rolling(14).sum().to_numpy()
    plus = ((high - low.shift()).abs().rolling(14).sum()).to_numpy() / tr
    minus = ((low - high.shift()).abs().rolling(14).sum()).to_numpy() / tr
    close_all(out["plus"], plus, rtol=1e-8)
    close_all(out["minus"], minus, rtol=1e-8)


def test_vortex_hand_case():
    rows = [(1, 2, 1, 2, 1), (2, 3, 2, 3, 1), (3, 4, 3, 4, 1), (3, 4, 1, 1, 1)]
    out = run("vortex_indicator", bars(rows), period=2)
    # bar 2: VM+ = |3-2| + |4-2| = 4, VM- = |2-2| + |3-3| = 0, TR = 1 + 1 = 2
    assert out["plus"][2] == pytest.approx(2) and out["minus"][2] == pytest.approx(0)
    # bar 3: VM+ = 2 + |4-3| = 3, VM- = 0 + |1-4| = 3, TR = 1 + 3 = 4
    assert out["plus"][3] == pytest.approx(0.75) and out["minus"][3] == pytest.approx(0.75)
    assert list(out["trend"]) == ["neutral", "neutral", "bullish", "neutral"]


def test_chande_momentum_matches_reference(sample):
    out = run("chande_momentum", sample, period=9)
    d = sample["close"].diff()
    up = d.clip(lower=0).rolling(9).sum()
    down = (-d).clip(lower=0).rolling(9).sum()
    close_all(out["value"], (100 * (up - down) / (up + down)).to_numpy(), rtol=1e-7, atol=1e-7)


def test_chande_momentum_hand_case():
    rows = [(c, c, c, c, 1) for c in (10, 11, 13, 12, 12)]
    out = run("chande_momentum", bars(rows), period=3)
    # changes +1, +2, -1, 0: windows (+1 +2 -1) -> 100 * 2 / 4, (+2 -1 0) -> 100 * 1 / 3
    close_all(out["value"], [np.nan, np.nan, np.nan, 50, 100 / 3])
    assert out["zone"][3] == "overbought"


def test_detrended_price_oscillator_matches_reference(sample):
    out = run("detrended_price_oscillator", sample, period=21)
    c = sample["close"]
    close_all(out["value"], (c - c.rolling(21).mean().shift(21 // 2 + 1)).to_numpy(), rtol=1e-9, atol=1e-8)


def test_detrended_price_oscillator_hand_case():
    rows = [(c, c, c, c, 1) for c in (1, 2, 3, 4, 5, 6)]
    out = run("detrended_price_oscillator", bars(rows), period=3)
    # shift 3 // 2 + 1 = 2: DPO_t = close_t - SMA3_{t-2}; SMA3 at bar 2 = 2 -> DPO_4 = 5 - 2
    close_all(out["value"], [np.nan] * 4 + [3, 3])


def wma_ref(x, n):
    w = np.arange(1, n + 1)
    return pd.Series(x).rolling(n).apply(lambda v: np.dot(v, w) / w.sum(), raw=True).to_numpy()


def test_coppock_matches_reference(sample):
    out = run("coppock_curve", sample)
    c = sample["close"]
    roc = (100 * (c / c.shift(14) - 1) + 100 * (c / c.shift(11) - 1)).to_numpy()
    close_all(out["value"], wma_ref(roc, 10), rtol=1e-7, atol=1e-9)


def test_coppock_hand_case():
    rows = [(c, c, c, c, 1) for c in (100, 100, 110, 121, 121)]
    out = run("coppock_curve", bars(rows), long_roc=2, short_roc=1, wma_period=2)
    # ROC2 + ROC1: bar 2: 10 + 10 = 20, bar 3: 21 + 10 = 31, bar 4: 10 + 0 = 10
    close_all(out["value"], [np.nan, np.nan, np.nan, (20 + 2 * 31) / 3, (31 + 2 * 10) / 3])
    assert list(out["direction"][3:]) == ["neutral", "falling"]


def test_elder_ray_matches_reference(sample):
    out = run("elder_ray", sample, period=13)
    ema = ema_ref(sample["close"].to_numpy(), 13)
    close_all(out["ema"], ema)
    close_all(out["bull_power"], sample["high"].to_numpy() - ema)
    close_all(out["bear_power"], sample["low"].to_numpy() - ema)
    signals = set(out["signal"])
    assert {"buy", "sell"} <= signals


def test_elder_ray_hand_case():
    rows = [(10, 11, 9, 10, 1), (10, 12, 9, 11, 1), (11, 13, 10.5, 12, 1)]
    out = run("elder_ray", bars(rows), period=1)  # EMA(1) is the close
    close_all(out["bull_power"], [1, 1, 1])
    close_all(out["bear_power"], [-1, -2, -1.5])
    # bar 2: EMA rising, bear power negative but rising -> buy
    assert list(out["signal"]) == ["neutral", "neutral", "buy"]


def test_relative_vigor_index_matches_reference(sample):
    out = run("relative_vigor_index", sample, period=10)

    def swma(s):
        return (s.shift(3) + 2 * s.shift(2) + 2 * s.shift(1) + s) / 6

    num = swma(sample["close"] - sample["open"]).rolling(10).sum()
    den = swma(sample["high"] - sample["low"]).rolling(10).sum()
    rvi = num / den
    close_all(out["value"], rvi.to_numpy(), rtol=1e-8)
    close_all(out["signal"], swma(rvi).to_numpy(), rtol=1e-8, atol=1e-12)


def test_relative_vigor_index_hand_case():
    rows = [(10, 12, 10, 11, 1)] * 8  # close - open is half the range on every bar
    out = run("relative_vigor_index", bars(rows), period=2)
    close_all(out["value"], [np.nan] * 4 + [0.5] * 4)
    close_all(out["signal"], [np.nan] * 7 + [0.5])


# ---- custom: recursive ones ------------------------------------------------------------------
def test_kama_matches_talib_and_reference(sample):
    close = sample["close"].to_numpy()
    out = run("kaufman_adaptive_ma", sample, period=10, fast=2, slow=30)
    close_all(out["value"], talib.KAMA(close, 10), rtol=1e-12)
    # reference loop with other fast/slow
    n, fast, slow = 8, 3, 20
    out = run("kaufman_adaptive_ma", sample, period=n, fast=fast, slow=slow)
    expected = np.full(len(close), np.nan)
    value = close[n - 1]
    for t in range(n, len(close)):
        noise = np.abs(np.diff(close[t - n : t + 1])).sum()
        er = abs(close[t] - close[t - n]) / noise if noise > 0 else 1.0
        sc = (er * (2 / (fast + 1) - 2 / (slow + 1)) + 2 / (slow + 1)) ** 2
        value = value + sc * (close[t] - value)
        expected[t] = value
    close_all(out["value"], expected, rtol=1e-10)


def test_kama_hand_case():
    rows = [(c, c, c, c, 1) for c in (1, 2, 3, 4)]
    out = run("kaufman_adaptive_ma", bars(rows), period=2, fast=2, slow=30)
    # a straight line: ER = 1, sc = (2/3)^2 = 4/9; seed close[1] = 2
    k2 = 2 + 4 / 9 * (3 - 2)
    close_all(out["value"], [np.nan, np.nan, k2, k2 + 4 / 9 * (4 - k2)])
    close_all(out["efficiency_ratio"], [np.nan, np.nan, 1, 1])
    assert list(out["slope"]) == ["neutral", "neutral", "neutral", "rising"]


def test_fisher_matches_reference(sample):
    out = run("fisher_transform", sample, period=9)
    mid = ((sample["high"] + sample["low"]) / 2).to_numpy()
    expected = np.full(len(mid), np.nan)
    value = fish = 0.0
    for t in range(8, len(mid)):
        hi, lo = mid[t - 8 : t + 1].max(), mid[t - 8 : t + 1].min()
        value = 0.66 * ((mid[t] - lo) / (hi - lo) - 0.5) + 0.67 * value
        value = 0.999 if value > 0.99 else -0.999 if value < -0.99 else value
        fish = 0.5 * np.log((1 + value) / (1 - value)) + 0.5 * fish
        expected[t] = fish
    close_all(out["value"], expected, rtol=1e-10)
    close_all(out["trigger"][1:], expected[:-1])


def test_fisher_hand_case():
    rows = [(1, 1, 1, 1, 1), (2, 2, 2, 2, 1), (3, 3, 3, 3, 1)]
    out = run("fisher_transform", bars(rows), period=2)
    # bar 1: mid at the top of its 2-bar range: v = 0.66 * 0.5 = 0.33, F = atanh(0.33)
    v1 = 0.33
    f1 = 0.5 * np.log((1 + v1) / (1 - v1))
    v2 = 0.33 + 0.67 * v1
    close_all(out["value"], [np.nan, f1, 0.5 * np.log((1 + v2) / (1 - v2)) + 0.5 * f1])
    assert list(out["trend"]) == ["neutral", "neutral", "bullish"]


def stc_ref(close, cycle, fast, slow, factor):
    macd = ema_ref(close, fast) - ema_ref(close, slow)
    n = len(close)
    out, d = np.full(n, np.nan), np.full(n, np.nan)
    k = kd = 0.0
    for t in range(n):
        window = macd[max(0, t - cycle + 1) : t + 1]
        if t < cycle - 1 or np.isnan(window).any():
            continue
        if window.max() > window.min():
            k = 100 * (macd[t] - window.min()) / (window.max() - window.min())
        d[t] = k if np.isnan(d[t - 1]) else d[t - 1] + factor * (k - d[t - 1])
        dw = d[t - cycle + 1 : t + 1]
        if np.isnan(dw).any():
            continue
        if dw.max() > dw.min():
            kd = 100 * (d[t] - dw.min()) / (dw.max() - dw.min())
        out[t] = kd if np.isnan(out[t - 1]) else out[t - 1] + factor * (kd - out[t - 1])
    return out


def test_schaff_trend_cycle_matches_reference(sample):
    close = sample["close"].to_numpy()
    out = run("schaff_trend_cycle", sample)
    close_all(out["value"], stc_ref(close, 10, 23, 50, 0.5), rtol=1e-7, atol=1e-7)
    out = run("schaff_trend_cycle", sample, cycle=5, fast=12, slow=26, factor=0.3)
    close_all(out["value"], stc_ref(close, 5, 12, 26, 0.3), rtol=1e-7, atol=1e-7)
    assert np.nanmin(out["value"]) >= 0 and np.nanmax(out["value"]) <= 100


def test_schaff_trend_cycle_hand_case():
    # zigzag with fast=1 (MACD = close - EMA2), cycle=2: the 2-bar stochastic is 0 or 100
    rows = [(c, c, c, c, 1) for c in (1, 3, 1, 3, 1, 3, 1)]
    out = run("schaff_trend_cycle", bars(rows), cycle=2, fast=1, slow=2, factor=0.5)
    # EMA2: 2, 1.333.., 2.444.., 1.481.., 2.827.., 1.609..; MACD alternates up/down from bar 2:
    # k = 0, 100, 0, 100, 0 at bars 2..6 (first window at bar 2); d = 0, 50, 25, 62.5, 31.25;
    # kd (2-bar stochastic of d) from bar 3 = 100, 0, 100, 0 -> STC = 100, 50, 75, 37.5
    close_all(out["value"], [np.nan] * 3 + [100, 50, 75, 37.5])
    assert list(out["zone"][3:]) == ["overbought", "neutral", "overbought", "neutral"]


def linreg_ref(y, n):
    out = np.full(len(y), np.nan)
    x = np.arange(n)
    for t in range(n - 1, len(y)):
        w = y[t - n + 1 : t + 1]
        if not np.isnan(w).any():
            slope, intercept = np.polyfit(x, w, 1)
            out[t] = intercept + slope * (n - 1)
    return out


def test_squeeze_momentum_matches_reference(sample):
    out = run("squeeze_momentum", sample)
    close, high, low = sample["close"], sample["high"], sample["low"]
    basis, dev = close.rolling(20).mean(), 2.0 * close.rolling(20).std(ddof=0)
    rng = pd.Series(true_range(sample), index=close.index).rolling(20).mean()
    upper_kc, lower_kc = basis + 1.5 * rng, basis - 1.5 * rng
    on = ((basis - dev) > lower_kc) & ((basis + dev) < upper_kc)
    off = ((basis - dev) < lower_kc) & ((basis + dev) > upper_kc)
    known = rng.notna()
    expected = np.where(on, "on", np.where(off, "off", np.where(known, "no_squeeze", "neutral")))
    assert (out["squeeze"] == expected).all()
    assert (out["fired"][1:] == (on.to_numpy()[:-1] & ~on.to_numpy()[1:])).all()
    mid = ((high.rolling(20).max() + low.rolling(20).min()) / 2 + basis) / 2
    close_all(out["momentum"], linreg_ref((close - mid).to_numpy(), 20), rtol=1e-6, atol=1e-8)


def test_squeeze_momentum_hand_case():
    rows = [(100, 101, 99, 100, 1)] * 6  # no movement: zero std dev inside a 2-wide Keltner
    out = run("squeeze_momentum", bars(rows), bb_length=3, kc_length=3)
    assert list(out["squeeze"]) == ["neutral"] * 3 + ["on"] * 3
    close_all(out["momentum"], [np.nan] * 4 + [0, 0], atol=1e-9)
    assert not out["fired"].any()


def rsi_ref(x, n):
    d = np.diff(x)
    gain, loss = np.maximum(d, 0), np.maximum(-d, 0)
    out = np.full(len(x), np.nan)
    g, lo = gain[:n].mean(), loss[:n].mean()
    out[n] = 100 * g / (g + lo) if g + lo > 0 else 0
    for t in range(n + 1, len(x)):
        g = (g * (n - 1) + gain[t - 1]) / n
        lo = (lo * (n - 1) + loss[t - 1]) / n
        out[t] = 100 * g / (g + lo) if g + lo > 0 else 0
    return out


def test_connors_rsi_matches_reference(sample):
    out = run("connors_rsi", sample)
    c = sample["close"].to_numpy()
    streak = np.zeros(len(c))
    for t in range(1, len(c)):
        if c[t] > c[t - 1]:
            streak[t] = max(streak[t - 1], 0) + 1
        elif c[t] < c[t - 1]:
            streak[t] = min(streak[t - 1], 0) - 1
    roc = np.r_[np.nan, 100 * (c[1:] / c[:-1] - 1)]
    rank = np.full(len(c), np.nan)
    for t in range(101, len(c)):
        rank[t] = 100 * np.mean(roc[t - 100 : t] < roc[t])
    close_all(out["streak"], streak)
    close_all(out["percent_rank"], rank)
    close_all(out["value"], (rsi_ref(c, 3) + rsi_ref(streak, 2) + rank) / 3, rtol=1e-9)


def test_connors_rsi_hand_case():
    rows = [(c, c, c, c, 1) for c in (10, 11, 12, 12, 11, 10, 10.5)]
    out = run("connors_rsi", bars(rows), rsi_period=2, streak_period=2, rank_period=2)
    close_all(out["streak"], [0, 1, 2, 0, -1, -2, 1])
    # ROC1 at bar 6 (+5 %) beats both previous (-8.3 %, -9.1 %): rank 100; bar 5 beats none
    close_all(out["percent_rank"], [np.nan] * 3 + [0, 0, 0, 100])
