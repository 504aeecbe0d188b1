"""Modules rewritten for speed give the same outputs, bit for bit, as the code they replaced.

Each reference below is the module's previous ``compute`` (NumPy / pandas / TA-Lib), kept here
verbatim but for names; the module's outputs through ``calculate_arrays`` must equal it exactly
(same float bits, same labels) on random bars with gaps (missing rows) and NaN prices, for the
default config and a few others.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import talib
from numba import njit

from modules.base import as_float
from modules.common.series import band_position, compare, labels, price_source, zones
from modules.common.swings_sr import lag, rolling_max, rolling_min
from modules.registry import get_registry

REGISTRY = get_registry()


def random_bars(n: int, seed: int, nan_rows: int = 0, gaps: int = 0) -> pd.DataFrame:
    """``n`` one-minute bars (a log random walk, OHLC consistent, lognormal volume, prices
    rounded to cents so ties occur), ``gaps`` runs of missing rows and ``nan_rows`` rows of NaN
    prices and volume."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.standard_normal(n) * 1e-3))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) + np.abs(rng.standard_normal(n)) * 0.05
    low = np.minimum(open_, close) - np.abs(rng.standard_normal(n)) * 0.05
    volume = np.round(rng.lognormal(5.0, 1.0, n))
    volume[rng.integers(0, n, n // 50)] = 0.0
    minutes = np.arange(n, dtype=np.int64)
    for start in rng.integers(0, n, gaps):
        minutes[start:] += int(rng.integers(30, 3000))
    frame = pd.DataFrame(
        {
            "open": np.round(open_, 2),
            "high": np.round(high, 2),
            "low": np.round(low, 2),
            "close": np.round(close, 2),
            "volume": volume,
        },
        index=pd.DatetimeIndex(
            pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(minutes, unit="min"), name="timestamp"
        ),
    )
    if nan_rows:
        frame.iloc[rng.integers(0, n, nan_rows)] = np.nan
    return frame


DATASETS = {
    "clean": lambda: random_bars(6000, 1),
    "gaps_nans": lambda: random_bars(6000, 2, nan_rows=40, gaps=12),
    "short": lambda: random_bars(7, 3),
    # prices on a coarse grid and one volume for every bar: equal and nearly equal values
    "ties": lambda: random_bars(3000, 7).round(1).assign(volume=100.0),
}


def assert_same_outputs(module_id: str, data: pd.DataFrame, config: dict, reference) -> None:
    """``calculate_arrays`` equals ``reference(data, full config)`` (output name -> array),
    every float bit and every label."""
    cls = REGISTRY.get_module(module_id)
    full = cls.validate_config(config)
    got = cls().calculate_arrays(data, config)
    expected = reference(data, full)
    assert set(expected) == {out.name for out in cls.outputs}
    for name, value in expected.items():
        column = got[cls.column_name(full, name)]
        value = np.asarray(value)
        column = np.asarray(column)
        assert column.shape == value.shape, name
        if value.dtype.kind == "f":
            assert column.dtype == np.float64, name
            # the same bits, NaN included (a NaN's payload aside)
            same = (column.view(np.int64) == value.view(np.int64)) | (np.isnan(column) & np.isnan(value))
            assert same.all(), f"{module_id}.{name}: first difference at {np.flatnonzero(~same)[:5]}"
        else:
            assert np.array_equal(column.astype(str), value.astype(str)), f"{module_id}.{name}"


# ---- premium_discount_zones: NumPy where-chains -> one Numba pass ------------------------------
def premium_discount_ref(data, config):
    from modules.ict._structure import ohlc, swings_of

    labels_state = np.array(("premium", "discount", "equilibrium", "none"))
    labels_ote = np.array(("bullish", "bearish", "none"))
    close = ohlc(data)[3]
    sw = swings_of(data, config)
    hi, lo = sw.high_level, sw.low_level
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = hi > lo
        position = np.where(valid, 100.0 * (close - lo) / np.where(valid, hi - lo, 1.0), np.nan)
        half = config["equilibrium_band"] / 2.0
        state = np.where(~valid, 3, np.where(np.abs(position - 50.0) <= half, 2, np.where(position > 50.0, 0, 1)))
        leg_up = sw.high_bar > sw.low_bar
        retrace = np.where(leg_up, 100.0 - position, position)
        in_ote = valid & (retrace >= config["ote_min"]) & (retrace <= config["ote_max"])
    ote = np.where(in_ote & leg_up, 0, np.where(in_ote, 1, 2))
    return {
        "state": labels_state[state],
        "ote": labels_ote[ote],
        "position": position,
        "range_high": np.where(valid, hi, np.nan),
        "range_low": np.where(valid, lo, np.nan),
        "equilibrium": np.where(valid, (hi + lo) / 2.0, np.nan),
    }


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize(
    "config", [{}, {"left": 2, "right": 3, "equilibrium_band": 0.0}, {"ote_min": 20.0, "ote_max": 80.0}]
)
def test_premium_discount_zones_same_as_before(dataset, config):
    assert_same_outputs("premium_discount_zones", DATASETS[dataset](), config, premium_discount_ref)


# ---- as_float: the block manager's values, read-only like to_numpy's -------------------------
def test_as_float_equals_to_numpy_and_is_read_only():
    data = random_bars(100, 4, nan_rows=5)
    data["volume"] = np.arange(100)  # an integer column is converted (a copy)
    for column in ("open", "high", "low", "close", "volume"):
        values = as_float(data, column)
        expected = data[column].to_numpy(dtype=np.float64)
        assert values.dtype == np.float64 and values.flags.c_contiguous
        assert np.array_equal(values, expected, equal_nan=True)
        if np.shares_memory(values, expected):
            assert not values.flags.writeable
    nullable = data.astype({"close": "Float64"})  # an extension column: the public path
    assert np.array_equal(as_float(nullable, "close"), data["close"].to_numpy(), equal_nan=True)


# ---- find_swings: shifted TA-Lib arrays and comparisons -> one Numba pass ---------------------
def find_swings_ref(high, low, left, right):
    from modules.common.swings import confirmed_highs, confirmed_lows

    def last_level(confirmed, price):
        level = np.full(len(confirmed), np.nan)
        bar = np.full(len(confirmed), -1, dtype=np.int64)
        for t in np.flatnonzero(confirmed):
            level[t:] = price[t - right]
            bar[t:] = t - right
        return level, bar

    new_high = confirmed_highs(high, left, right)
    new_low = confirmed_lows(low, left, right)
    return (new_high, new_low, *last_level(new_high, high), *last_level(new_low, low))


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("left, right", [(5, 5), (1, 1), (2, 7), (7, 2)])
def test_find_swings_same_as_before(dataset, left, right):
    from modules.common.swings import find_swings

    data = DATASETS[dataset]()
    high, low = as_float(data, "high"), as_float(data, "low")
    sw = find_swings(high, low, left, right)
    got = (sw.new_high, sw.new_low, sw.high_level, sw.high_bar, sw.low_level, sw.low_bar)
    for mine, theirs in zip(got, find_swings_ref(high, low, left, right), strict=True):
        assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs, equal_nan=True)


# ---- custom and momentum modules: NumPy temporaries -> Numba passes around the TA-Lib calls ---
def relative_vigor_index_ref(data, config):
    def swma(x):
        out = np.full_like(x, np.nan)
        out[3:] = (x[:-3] + 2.0 * x[1:-2] + 2.0 * x[2:-1] + x[3:]) / 6.0
        return out

    open_, high, low, close = (as_float(data, c) for c in ("open", "high", "low", "close"))
    num = talib.SUM(swma(close - open_), config["period"])
    den = talib.SUM(swma(high - low), config["period"])
    with np.errstate(invalid="ignore", divide="ignore"):
        rvi = np.where(den > 0, num / den, np.nan)
        signal = swma(rvi)
        trend = compare(rvi, signal, ("bullish", "bearish", "neutral"))
    return {"value": rvi, "signal": signal, "trend": trend}


def vortex_indicator_ref(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    n = config["period"]
    vm_plus = np.abs(high - lag(low))
    vm_minus = np.abs(low - lag(high))
    tr_sum = talib.SUM(talib.TRANGE(high, low, close), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        plus = np.where(tr_sum > 0, talib.SUM(vm_plus, n) / tr_sum, np.nan)
        minus = np.where(tr_sum > 0, talib.SUM(vm_minus, n) / tr_sum, np.nan)
        spread = plus - minus
        prev = lag(spread)
        trend = compare(spread, 0, ("bullish", "bearish", "neutral"))
        cross = labels(
            [((spread > 0) & (prev <= 0), "bull_cross"), ((spread < 0) & (prev >= 0), "bear_cross")],
            len(spread),
            "none",
        )
    return {"plus": plus, "minus": minus, "trend": trend, "cross": cross}


def choppiness_ref(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    n = config["period"]
    true_range = talib.TRANGE(high, low, close)
    if len(close):
        true_range[0] = high[0] - low[0]
    span = talib.MAX(high, n) - talib.MIN(low, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        chop = np.where(span > 0, 100.0 * np.log10(talib.SUM(true_range, n) / span) / np.log10(n), np.nan)
        regime = labels(
            [(chop > config["choppy_level"], "choppy"), (chop < config["trending_level"], "trending")],
            len(chop),
            "neutral",
        )
    return {"value": chop, "regime": regime}


def chande_momentum_ref(data, config):
    close = as_float(data, "close")
    change = close - lag(close)
    up = talib.SUM(np.maximum(change, 0.0), config["period"])
    down = talib.SUM(np.maximum(-change, 0.0), config["period"])
    total = up + down
    with np.errstate(invalid="ignore", divide="ignore"):
        cmo = np.where(total > 0, 100.0 * (up - down) / total, 0.0)
        cmo[np.isnan(total)] = np.nan
        zone = zones(cmo, config["overbought"], config["oversold"])
    return {"value": cmo, "zone": zone}


def connors_rsi_ref(data, config):
    close = as_float(data, "close")
    streak = np.zeros(len(close))
    for t in range(1, len(close)):
        if close[t] > close[t - 1]:
            streak[t] = streak[t - 1] + 1.0 if streak[t - 1] > 0 else 1.0
        elif close[t] < close[t - 1]:
            streak[t] = streak[t - 1] - 1.0 if streak[t - 1] < 0 else -1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        roc = 100.0 * (close / lag(close) - 1.0)
    period = config["rank_period"]
    rank = np.full(len(close), np.nan)
    for t in range(period + 1, len(close)):
        rank[t] = 100.0 * np.count_nonzero(roc[t - period : t] < roc[t]) / period
    crsi = (talib.RSI(close, config["rsi_period"]) + talib.RSI(streak, config["streak_period"]) + rank) / 3.0
    with np.errstate(invalid="ignore"):
        zone = zones(crsi, config["overbought"], config["oversold"])
    return {"value": crsi, "streak": streak, "percent_rank": rank, "zone": zone}


def tsi_ref(data, config):
    def double_ema(values, long, short):
        return talib.EMA(talib.EMA(values, timeperiod=long), timeperiod=short)

    price = price_source(data, config["source"])
    change = np.full(len(price), np.nan)
    change[1:] = np.diff(price)
    num = double_ema(change, config["long"], config["short"])
    den = double_ema(np.abs(change), config["long"], config["short"])
    with np.errstate(invalid="ignore", divide="ignore"):
        tsi = np.where(den > 0, 100.0 * num / den, 0.0)
    tsi[np.isnan(den)] = np.nan
    signal = talib.EMA(tsi, timeperiod=config["signal"])
    trend = compare(tsi, signal, ("bullish", "bearish", "neutral"))
    return {"value": tsi, "signal": signal, "trend": trend}


def cmf_ref(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    volume = as_float(data, "volume")
    span = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        mfm = np.where(span > 0, ((close - low) - (high - close)) / span, 0.0)
    period = config["period"]
    flow = mfm * volume
    flow_sum = flow if period == 1 else talib.SUM(flow, timeperiod=period)
    volume_sum = volume if period == 1 else talib.SUM(volume, timeperiod=period)
    with np.errstate(invalid="ignore", divide="ignore"):
        cmf = np.where(volume_sum > 0, flow_sum / volume_sum, np.nan)
        pressure = labels(
            [(cmf > config["threshold"], "buying"), (cmf < -config["threshold"], "selling")], len(cmf), "neutral"
        )
    return {"value": cmf, "pressure": pressure}


def keltner_channels_ref(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    middle = talib.EMA(close, timeperiod=config["period"])
    atr = talib.ATR(high, low, close, timeperiod=config["atr_period"])
    upper = middle + config["multiplier"] * atr
    lower = middle - config["multiplier"] * atr
    width = upper - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = np.where(width > 0, (close - lower) / width, 0.5)
        percent[np.isnan(width)] = np.nan
        zone = labels(
            [(close > upper, "above_upper"), (close < lower, "below_lower"), (width >= 0, "inside")],
            len(close),
            "neutral",
        )
    return {"percent": percent, "upper": upper, "middle": middle, "lower": lower, "zone": zone}


def donchian_channels_ref(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    upper = rolling_max(high, config["period"])
    lower = rolling_min(low, config["period"])
    width = upper - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = np.where(width > 0, (close - lower) / width, 0.5)
        percent[np.isnan(width)] = np.nan
    return {
        "percent": percent,
        "upper": upper,
        "middle": (upper + lower) / 2,
        "lower": lower,
        "width": width,
        "breakout": band_position(close, lag(upper), lag(lower), ("up", "down", "inside", "neutral")),
    }


def bollinger_width_ref(data, config):
    upper, middle, lower = talib.BBANDS(
        as_float(data, "close"),
        timeperiod=config["period"],
        nbdevup=config["std_dev"],
        nbdevdn=config["std_dev"],
        matype=talib.MA_Type.SMA,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        width = np.where(middle != 0, 100.0 * (upper - lower) / middle, np.nan)
        lowest = rolling_min(width, config["squeeze_lookback"])
        squeeze = width <= lowest
        prev = lag(width)
        trend = compare(width, prev, ("expanding", "contracting", "neutral"))
    return {"value": width, "squeeze": squeeze, "trend": trend}


def elder_ray_ref(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    ema = talib.EMA(close, config["period"])
    bull, bear = high - ema, low - ema
    with np.errstate(invalid="ignore"):
        ema_up, ema_down = ema > lag(ema), ema < lag(ema)
        buy = ema_up & (bear < 0) & (bear > lag(bear))
        sell = ema_down & (bull > 0) & (bull < lag(bull))
    signal = labels([(buy, "buy"), (sell, "sell")], len(close), "neutral")
    return {"bull_power": bull, "bear_power": bear, "ema": ema, "signal": signal}


def awesome_oscillator_ref(data, config):
    median = (as_float(data, "high") + as_float(data, "low")) / 2.0
    ao = talib.SMA(median, timeperiod=config["fast"]) - talib.SMA(median, timeperiod=config["slow"])
    previous = np.full(len(ao), np.nan)
    previous[1:] = ao[:-1]
    bar = compare(ao, previous, ("rising", "falling", "neutral"))
    return {"value": ao, "bar": bar}


def ichimoku_ref(data, config):
    def shifted(values, bars):
        out = np.full(len(values), np.nan)
        if bars < len(values):
            out[bars:] = values[: len(values) - bars]
        return out

    def versus(a, b):
        return compare(a, b, ("bullish", "bearish", "neutral"))

    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    shift = config["displacement"]
    tenkan = talib.MIDPRICE(high, low, timeperiod=config["tenkan"])
    kijun = talib.MIDPRICE(high, low, timeperiod=config["kijun"])
    span_a = shifted((tenkan + kijun) / 2.0, shift)
    span_b = shifted(talib.MIDPRICE(high, low, timeperiod=config["senkou_b"]), shift)
    top, bottom = np.maximum(span_a, span_b), np.minimum(span_a, span_b)
    position = labels(
        [(close > top, "above_cloud"), (close < bottom, "below_cloud"), (close >= bottom, "in_cloud")],
        len(close),
        "neutral",
    )
    return {
        "position": position,
        "tenkan": tenkan,
        "kijun": kijun,
        "senkou_a": span_a,
        "senkou_b": span_b,
        "cloud": versus(span_a, span_b),
        "chikou": versus(close, shifted(close, shift)),
    }


def supertrend_ref(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    atr = talib.ATR(high, low, close, timeperiod=config["period"])
    mid, band = (high + low) / 2.0, config["multiplier"] * atr
    upper_basic, lower_basic = mid + band, mid - band
    n = len(close)
    line = np.full(n, np.nan)
    code = np.zeros(n, dtype=np.int8)  # 1 up, -1 down, 0 warm-up
    upper = lower = np.nan
    for t in range(n):
        if np.isnan(upper_basic[t]):
            continue
        if np.isnan(upper):
            upper, lower, code[t] = upper_basic[t], lower_basic[t], -1
        else:
            prev_close = close[t - 1]
            if upper_basic[t] < upper or prev_close > upper:
                upper = upper_basic[t]
            if lower_basic[t] > lower or prev_close < lower:
                lower = lower_basic[t]
            if code[t - 1] == -1:
                code[t] = 1 if close[t] > upper else -1
            else:
                code[t] = -1 if close[t] < lower else 1
        line[t] = lower if code[t] == 1 else upper
    reversal = np.zeros(n, dtype=bool)
    reversal[1:] = (code[1:] * code[:-1]) == -1
    direction = labels([(code == 1, "bullish"), (code == -1, "bearish")], n, "neutral")
    return {"value": line, "direction": direction, "reversal": reversal}


def fibonacci_ref(data, config):
    from modules.support_resistance.fibonacci import RATIOS, ZONES

    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    left, right = config["left"], config["right"]
    n = len(close)
    swing_high, swing_low, up = np.full(n, np.nan), np.full(n, np.nan), np.ones(n, dtype=bool)
    last_high = last_low = np.nan
    is_up = True
    for t in range(n):
        i = t - right
        found_high = found_low = False
        if i >= left:
            found_high = bool(np.all(high[i] > high[i - left : i]) and np.all(high[i] >= high[i + 1 : t + 1]))
            found_low = bool(np.all(low[i] < low[i - left : i]) and np.all(low[i] <= low[i + 1 : t + 1]))
        if found_high:
            last_high = high[i]
        if found_low:
            last_low = low[i]
        if found_high or found_low:
            is_up = found_high
        swing_high[t], swing_low[t], up[t] = last_high, last_low, is_up
    with np.errstate(invalid="ignore", divide="ignore"):
        span = swing_high - swing_low
        valid = span > 0.0
        end = np.where(valid, np.where(up, swing_high, swing_low), np.nan)
        move = np.where(valid, np.where(up, span, -span), np.nan)
        retracement = (end - close) / move
        code = sum((retracement >= edge).astype(int) for edge in (0.0, *RATIOS))
        zone = np.where(retracement > 1.0, 7, np.where(retracement == retracement, code, 8))
    out = {"retracement": retracement, "swing_high": swing_high, "swing_low": swing_low}
    for r in RATIOS:
        out[f"level_{round(r * 1000):03d}"] = end - r * move
    out["direction"] = np.array(("up", "down", "neutral"))[np.where(valid, np.where(up, 0, 1), 2)]
    out["zone"] = np.array(ZONES)[zone]
    return out


def session_ids_ref(data, start_hour, anchor):
    ns = data.index.tz_convert("UTC").as_unit("ns").asi8
    days = np.floor_divide(np.floor_divide(ns, 1_000_000_000) - start_hour * 3600, 86400)
    if anchor == "day":
        return days
    return np.floor_divide(days + (1 if start_hour >= 12 else 0) + 3, 7)


def vwap_ref(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    volume = as_float(data, "volume")
    price = (high + low + close) / 3.0
    session = session_ids_ref(data, config["session_start_hour"], config["anchor"])
    n = len(price)
    vwap, std = np.full(n, np.nan), np.full(n, np.nan)
    weight = mean = m2 = 0.0
    for i in range(n):
        if i == 0 or session[i] != session[i - 1]:
            weight = mean = m2 = 0.0
        w = volume[i]
        if w > 0.0:
            weight += w
            delta = price[i] - mean
            mean += delta * (w / weight)
            m2 += w * delta * (price[i] - mean)
        if weight > 0.0:
            vwap[i] = mean
            std[i] = np.sqrt(max(m2, 0.0) / weight)
    upper = vwap + config["band_mult"] * std
    lower = vwap - config["band_mult"] * std
    return {
        "value": vwap,
        "upper": upper,
        "lower": lower,
        "position": compare(close, vwap, ("above", "below", "neutral")),
        "zone": band_position(close, upper, lower, ("above_upper", "below_lower", "inside", "neutral")),
    }


@pytest.mark.parametrize("start_hour", [0, 5, 12, 22])
@pytest.mark.parametrize("anchor", ["day", "week"])
def test_session_ids_same_as_before(start_hour, anchor):
    from modules.common.swings_sr import session_ids

    data = random_bars(3000, 5, gaps=20)
    index = pd.DatetimeIndex(data.index)
    before_epoch = data.set_axis(index - pd.Timedelta(days=20000))  # floor division below zero
    for frame in (data, before_epoch):
        got = session_ids(frame, start_hour, anchor)
        assert got.dtype == np.int64
        assert np.array_equal(got, session_ids_ref(frame, start_hour, anchor))


def historical_volatility_ref(data, config):
    close = as_float(data, "close")
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.log(close / lag(close))
    std = pd.Series(returns).rolling(config["period"]).std(ddof=1).to_numpy()
    seconds = np.floor_divide(data.index.tz_convert("UTC").as_unit("ns").asi8, 1_000_000_000)[:51]
    spacing = np.diff(seconds)
    spacing = spacing[spacing > 0]
    per_year = config["trading_days"] * 86400.0 / float(np.median(spacing)) if len(spacing) else np.nan
    scale = np.sqrt(per_year) if config["annualize"] else 1.0
    value = 100.0 * std * scale
    average = talib.SMA(value, timeperiod=config["regime_period"])
    with np.errstate(invalid="ignore"):
        regime = compare(value, average, ("high", "low", "neutral"), ties="low")
    return {"value": value, "regime": regime}


# ---- volume_profile: the previous kernel, verbatim ---------------------------------------------
@njit(inline="always")
def _spread_ref(hist, low, high, volume, bottom, scale, bins, sign):
    """Add (sign=1) or remove (sign=-1) one bar's volume, spread evenly over its bins."""
    a = min(int((low - bottom) * scale), bins - 1)
    b = min(int((high - bottom) * scale), bins - 1)
    share = sign * volume / (b - a + 1)
    for k in range(a, b + 1):
        hist[k] += share


@njit
def _rolling_profile_ref(high, low, volume, win_high, win_low, period, bins, va_frac):
    n = high.shape[0]
    # NaN where no profile is written (warm-up, no volume), not filled first
    poc = np.empty(n)
    vah = np.empty(n)
    val = np.empty(n)
    poc[: period - 1] = np.nan
    vah[: period - 1] = np.nan
    val[: period - 1] = np.nan
    hist = np.zeros(bins)
    edges = np.zeros(bins + 1)
    inverse = np.zeros(bins + 1)
    inverse[1:] = 1.0 / np.arange(1, bins + 1)
    first_bin = np.zeros(period, dtype=np.int64)
    last_bin = np.zeros(period, dtype=np.int64)
    built = False  # hist holds the window ending at t - 1 on the same price grid
    total = 0.0
    for t in range(period - 1, n):
        poc[t] = np.nan
        vah[t] = np.nan
        val[t] = np.nan
        top = win_high[t]
        bottom = win_low[t]
        if not top > bottom:  # NaN or flat window
            built = False
            if top == bottom:
                flat_total = 0.0
                for j in range(t - period + 1, t + 1):
                    if volume[j] > 0.0:
                        flat_total += volume[j]
                if flat_total > 0.0:
                    poc[t] = top
                    vah[t] = top
                    val[t] = top
            continue
        scale = bins / (top - bottom)
        if built and top == win_high[t - 1] and bottom == win_low[t - 1]:
            # same grid as the previous bar: drop the bar leaving, add the bar entering
            out = t - period
            if volume[out] > 0.0:
                _spread_ref(hist, low[out], high[out], volume[out], bottom, scale, bins, -1.0)
                total -= volume[out]
            if volume[t] > 0.0:
                _spread_ref(hist, low[t], high[t], volume[t], bottom, scale, bins, 1.0)
                total += volume[t]
        else:
            # rebuild with a difference array: +share at the first bin, -share past the last
            edges[:] = 0.0
            total = 0.0
            first = t - period + 1
            # each bar's first and last bin in a loop of its own (vector code), then the
            # additions in bar order as before
            for i in range(period):
                first_bin[i] = min(int((low[first + i] - bottom) * scale), bins - 1)
                last_bin[i] = min(int((high[first + i] - bottom) * scale), bins - 1)
            for i in range(period):
                v = volume[first + i]
                if v > 0.0:
                    a = first_bin[i]
                    b = last_bin[i]
                    share = v * inverse[b - a + 1]
                    edges[a] += share
                    edges[b + 1] -= share
                    total += v
            running = 0.0
            for k in range(bins):
                running += edges[k]
                hist[k] = running
            built = True
        if total <= 0.0:
            continue
        # comparisons tolerate float residue of the incremental update (1e-9 of the volume)
        tol = 1e-9 * total
        best = 0
        for k in range(1, bins):
            if hist[k] > hist[best] + tol:
                best = k
        lo_k = best
        hi_k = best
        acc = hist[best]
        target = va_frac * total - tol
        while acc < target and (lo_k > 0 or hi_k < bins - 1):
            up = hist[hi_k + 1] if hi_k < bins - 1 else -np.inf
            down = hist[lo_k - 1] if lo_k > 0 else -np.inf
            if up >= down - tol:
                hi_k += 1
                acc += up
            else:
                lo_k -= 1
                acc += down
        width = (top - bottom) / bins
        poc[t] = bottom + (best + 0.5) * width
        vah[t] = bottom + (hi_k + 1) * width
        val[t] = bottom + lo_k * width
    return poc, vah, val


def volume_profile_ref(data, config):
    high, low, close = as_float(data, "high"), as_float(data, "low"), as_float(data, "close")
    period = config["period"]
    poc, vah, val = _rolling_profile_ref(
        high,
        low,
        as_float(data, "volume"),
        rolling_max(high, period),
        rolling_min(low, period),
        period,
        config["bins"],
        config["value_area"] / 100.0,
    )
    position = band_position(close, vah, val, ("above_value", "below_value", "in_value", "neutral"))
    return {"poc": poc, "vah": vah, "val": val, "position": position}


REWRITTEN: dict[str, tuple[Callable, list[dict]]] = {
    "relative_vigor_index": (relative_vigor_index_ref, [{}, {"period": 2}, {"period": 33}]),
    "vortex_indicator": (vortex_indicator_ref, [{}, {"period": 2}, {"period": 50}]),
    "choppiness": (choppiness_ref, [{}, {"period": 2}, {"period": 40, "choppy_level": 55, "trending_level": 45}]),
    "chande_momentum": (chande_momentum_ref, [{}, {"period": 2}, {"period": 30}]),
    "connors_rsi": (
        connors_rsi_ref,
        [{}, {"rank_period": 5, "streak_period": 3}, {"rank_period": 2}, {"rank_period": 7}],
    ),
    "tsi": (tsi_ref, [{}, {"long": 5, "short": 1, "signal": 1}, {"source": "hlc3"}]),
    "cmf": (cmf_ref, [{}, {"period": 1}, {"period": 3, "threshold": 0.0}]),
    "keltner_channels": (keltner_channels_ref, [{}, {"period": 1, "atr_period": 1}, {"multiplier": 0.5}]),
    "donchian_channels": (donchian_channels_ref, [{}, {"period": 1}, {"period": 3}]),
    "bollinger_width": (bollinger_width_ref, [{}, {"period": 2, "squeeze_lookback": 2}]),
    "elder_ray": (elder_ray_ref, [{}, {"period": 1}, {"period": 3}]),
    "awesome_oscillator": (awesome_oscillator_ref, [{}, {"fast": 1, "slow": 2}]),
    "ichimoku": (ichimoku_ref, [{}, {"tenkan": 2, "kijun": 3, "senkou_b": 4, "displacement": 1}]),
    "fibonacci": (fibonacci_ref, [{}, {"left": 1, "right": 1}, {"left": 2, "right": 7}]),
    "vwap": (
        vwap_ref,
        [{}, {"anchor": "week", "session_start_hour": 22, "band_mult": 1.5}, {"session_start_hour": 13}],
    ),
    "historical_volatility": (historical_volatility_ref, [{}, {"annualize": False, "trading_days": 365}]),
    "volume_profile": (
        volume_profile_ref,
        [{}, {"period": 2, "bins": 2}, {"period": 30, "bins": 7, "value_area": 100}, {"bins": 61, "value_area": 10}],
    ),
    "supertrend": (supertrend_ref, [{}, {"period": 1, "multiplier": 0.5}, {"period": 30}]),
}


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize(
    "module_id, config",
    [(module_id, config) for module_id, (_, configs) in REWRITTEN.items() for config in configs],
)
def test_rewritten_module_same_as_before(module_id, config, dataset):
    assert_same_outputs(module_id, DATASETS[dataset](), config, REWRITTEN[module_id][0])


def test_historical_volatility_same_as_before_through_a_zero_close():
    data = random_bars(500, 8)
    close = data["close"].to_numpy(copy=True)
    close[[100, 101, 300]] = 0.0  # log of 0 and inf, 0 / 0
    data["close"] = close
    assert_same_outputs("historical_volatility", data, {"period": 5}, historical_volatility_ref)
