"""The swing-point primitive (modules/common/swings.py): hand-made cases, a brute-force
reference on the sample, no look-ahead, and a cross-check against smartmoneyconcepts."""

import numpy as np
import pandas as pd
import pytest

from modules.common.swings import confirmed_highs, confirmed_lows, find_swings, pivot_highs, pivot_lows

from .conftest import load_sample


def brute_pivots(values, left, right, sign=1):
    """Bar i is a pivot if sign*values[i] is strictly above the left and right neighbours."""
    v = sign * np.asarray(values, dtype=float)
    out = np.zeros(len(v), dtype=bool)
    for i in range(left, len(v) - right):
        out[i] = all(v[i] > v[i - k] for k in range(1, left + 1)) and all(v[i] > v[i + k] for k in range(1, right + 1))
    return out


def test_hand_made_swing_high_is_known_right_bars_later():
    high = np.array([1.0, 2, 3, 2, 1, 2, 2.5, 2.4, 2.6, 1])
    low = high - 1
    assert pivot_highs(high, 2, 2).nonzero()[0].tolist() == [2]  # 6 has 2.6 within 2 after
    assert confirmed_highs(high, 2, 2).nonzero()[0].tolist() == [4]  # known at 2 + right
    sw = find_swings(high, low, 2, 2)
    assert np.isnan(sw.high_level[:4]).all() and sw.high_bar[3] == -1
    assert (sw.high_level[4:] == 3).all() and (sw.high_bar[4:] == 2).all()
    # asymmetric window: bar 2 lacks 3 bars on its left; 2.5 and 2.6 beat 3 before, 1 after
    assert pivot_highs(high, 3, 1).nonzero()[0].tolist() == [6, 8]
    assert confirmed_highs(high, 3, 1).nonzero()[0].tolist() == [7, 9]


def test_ties_are_not_swings_and_lows_mirror_highs():
    high = np.array([1.0, 3, 3, 1, 0, 1])
    assert not pivot_highs(high, 1, 1).any()  # flat double top
    low = np.array([5.0, 4, 2, 4, 5, 1, 3])
    assert pivot_lows(low, 1, 1).nonzero()[0].tolist() == [2, 5]
    assert confirmed_lows(low, 1, 1).nonzero()[0].tolist() == [3, 6]
    sw = find_swings(low + 1, low, 1, 1)
    assert sw.low_level[3] == 2 and sw.low_level[5] == 2 and sw.low_level[6] == 1


def test_too_short_and_bad_windows():
    assert not confirmed_highs(np.array([1.0, 2, 1]), 2, 2).any()
    with pytest.raises(ValueError):
        find_swings(np.ones(5), np.ones(5), 0, 2)


@pytest.mark.parametrize("left,right", [(1, 1), (2, 2), (5, 5), (3, 7), (10, 2)])
def test_matches_brute_force_on_sample(left, right):
    df = load_sample()
    high, low = df["high"].to_numpy(), df["low"].to_numpy()
    ph, pl = brute_pivots(high, left, right), brute_pivots(low, left, right, -1)
    assert np.array_equal(pivot_highs(high, left, right), ph)
    assert np.array_equal(pivot_lows(low, left, right), pl)
    sw = find_swings(high, low, left, right)
    # confirmation = pivot shifted by `right`; levels are the last confirmed pivot's price
    assert np.array_equal(sw.new_high[right:], ph[:-right]) and not sw.new_high[:right].any()
    last, bar = np.nan, -1
    for t in range(len(high)):
        if t - right >= 0 and ph[t - right]:
            last, bar = high[t - right], t - right
        assert sw.high_bar[t] == bar
        assert (np.isnan(last) and np.isnan(sw.high_level[t])) or sw.high_level[t] == last


def test_no_look_ahead_on_truncation():
    df = load_sample()
    high, low = df["high"].to_numpy(), df["low"].to_numpy()
    full = find_swings(high, low, 4, 6)
    for cut in (50, 333, 1000):
        part = find_swings(high[:cut], low[:cut], 4, 6)
        for name in ("new_high", "new_low", "high_bar", "low_bar"):
            assert np.array_equal(getattr(full, name)[:cut], getattr(part, name)), name
        np.testing.assert_array_equal(full.high_level[:cut], part.high_level)
        np.testing.assert_array_equal(full.low_level[:cut], part.low_level)


def random_ohlc(n=3000, seed=7):
    """A random walk with opens at the previous close (no ties in practice)."""
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 0.5, n))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) + rng.exponential(0.3, n)
    low = np.minimum(open_, close) - rng.exponential(0.3, n)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": np.ones(n)})


def _keep_run_extremes(kind, price):
    """smc's clean-up: of consecutive swings of one kind keep the most extreme (first on ties)."""
    pos = np.flatnonzero(kind != 0)
    keep = np.zeros(len(kind), dtype=bool)
    start = 0
    for end in range(1, len(pos) + 1):
        if end == len(pos) or kind[pos[end]] != kind[pos[start]]:
            run = pos[start:end]
            pick = run[np.argmax(price[run])] if kind[run[0]] == 1 else run[np.argmin(price[run])]
            keep[pick] = True
            start = end
    return keep


@pytest.mark.parametrize("length", [3, 5, 10])
def test_cross_check_smartmoneyconcepts_swings(length):
    """smc.swing_highs_lows(L) compares a high with the L-1 highs before it and the L after it
    (high >= all of them), then drops consecutive swings of one kind except the most extreme.
    Our strict swings with left = L-1, right = L give the same swings at the pivot bars (no
    ties in this data) once the same clean-up is applied; smc needs the clean-up's future
    swings and marks each swing at its pivot bar, ``right`` bars before it is known, which is
    exactly where our ``new_high`` / ``new_low`` put it.
    """
    smc = pytest.importorskip("smartmoneyconcepts").smc
    df = random_ohlc()
    n = len(df)
    ref = smc.swing_highs_lows(df, swing_length=length)["HighLow"].to_numpy()
    high, low = df["high"].to_numpy(), df["low"].to_numpy()
    left, right = length - 1, length
    ph, pl = pivot_highs(high, left, right), pivot_lows(low, left, right)
    domain = np.zeros(n, dtype=bool)
    domain[2 * length - 1 : n - length] = True  # where smc's windows are complete
    kind = np.where(ph & domain, 1, np.where(pl & domain, -1, 0))  # smc: a high wins a tie
    kind[~_keep_run_extremes(kind, np.where(kind == 1, high, low))] = 0
    ours = kind[1:-1]
    theirs = np.nan_to_num(ref[1:-1]).astype(int)  # smc overwrites the first/last rows
    assert (ours != 0).sum() > 20
    assert np.array_equal(ours, theirs)
    # and knowable `right` bars later: the confirmation arrays are the pivots shifted
    sw = find_swings(high, low, left, right)
    assert np.array_equal(sw.new_high[right:], ph[:-right])
    assert np.array_equal(sw.new_low[right:], pl[:-right])
