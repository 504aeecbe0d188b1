"""Higher-timeframe filter and the resampling it uses: exact HTF boundaries, no look-ahead.

Bars are labelled by their open time: with hourly data, the 4h bar [00:00, 04:00) is complete
at 04:00, the close of the 03:00 bar, so the 03:00 bar is the first that may use it.
"""

import json

import numpy as np
import pandas as pd
import pytest

from modules.common.resample import (
    completed_index,
    datetime_index,
    infer_timeframe_seconds,
    open_times_ns,
    resample_ohlcv,
)
from modules.errors import ModuleConfigError, ModuleDataError
from modules.mtf.htf_filter import MODULE_OPTIONS
from modules.registry import get_registry

from .conftest import load_sample

REGISTRY = get_registry()
HTF = REGISTRY.get_module("htf_filter")


def random_bars(n, freq="1h", start="2024-01-01 00:00", seed=3, gaps=True):
    """Random-walk OHLCV; with ``gaps``, weekends removed and a few bars dropped."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    close = 100 * np.exp(np.cumsum(rng.standard_normal(n) * 0.004))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 0.002)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 0.002)
    df = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": rng.integers(1, 100, n).astype(float)},
        index=index,
    )
    if gaps:
        keep = (index.day_of_week < 5) & (rng.random(n) > 0.03)
        df = df[keep]
    return df


def outputs(df, **config):
    full = HTF.validate_config(config)
    res = HTF().calculate(df, config)
    return {o.name: res[HTF.column_name(full, o.name)].to_numpy() for o in HTF.outputs}


# ---- resampling ------------------------------------------------------------------------------


@pytest.mark.parametrize("timeframe,rule", [("4h", "4h"), ("1d", "1D"), ("15m", "15min")])
def test_resample_matches_pandas_and_skips_empty_periods(timeframe, rule):
    freq = "5min" if timeframe == "15m" else "1h"
    df = random_bars(3000, freq=freq)
    ours = resample_ohlcv(df, timeframe)
    theirs = df.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    theirs = theirs[df.resample(rule, label="left", closed="left").size() > 0]
    pd.testing.assert_frame_equal(ours, theirs, check_freq=False)
    assert datetime_index(ours).tz is not None and len(ours) < len(df)


def test_resample_periods_start_on_utc_day_boundaries():
    df = random_bars(24 * 10, freq="1h", start="2024-03-04 00:00", gaps=False)
    daily = resample_ohlcv(df, "1d")
    assert (daily.index == datetime_index(daily).normalize()).all()
    four = resample_ohlcv(df, "4h")
    assert set(datetime_index(four).hour) == {0, 4, 8, 12, 16, 20}
    # a day's bar aggregates exactly that UTC day's hourly bars
    day = df.loc["2024-03-05"]
    row = daily.loc["2024-03-05"]
    assert row["open"] == day["open"].iloc[0] and row["close"] == day["close"].iloc[-1]
    assert row["high"] == day["high"].max() and row["low"] == day["low"].min()
    assert row["volume"] == day["volume"].sum()


def test_resample_does_not_mutate_and_handles_empty():
    df = random_bars(200)
    before = df.copy()
    resample_ohlcv(df, "4h")
    pd.testing.assert_frame_equal(df, before)
    assert len(resample_ohlcv(df.iloc[:0], "4h")) == 0


def test_infer_timeframe_ignores_gaps_and_checks_order():
    assert infer_timeframe_seconds(random_bars(2000, freq="15min")) == 900
    assert infer_timeframe_seconds(random_bars(500, freq="1h")) == 3600
    with pytest.raises(ModuleDataError):
        infer_timeframe_seconds(random_bars(5).iloc[:1])
    with pytest.raises(ModuleDataError):
        open_times_ns(random_bars(50).iloc[::-1])


def test_completed_index_is_exact_at_the_boundary():
    hour = 3600 * 10**9
    base = np.arange(12) * hour  # hourly bars from 00:00
    htf = np.array([0, 4, 8]) * hour  # 4h bars opening 00:00, 04:00, 08:00
    index = completed_index(base, 3600, htf, 4 * 3600)
    # bars 00:00..02:00 close before 04:00: nothing complete; 03:00 closes at 04:00 -> bar 0
    assert index.tolist() == [-1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 2]


# ---- htf_filter: timing of values ------------------------------------------------------------


def reference(df, module_id, timeframe, config=None, output=None):
    """Independent reference: pandas resample, the module on the HTF bars, then for each base
    bar the last HTF bar whose close (open + H) is at or before the base bar's close."""
    hours = {"4h": 4, "1d": 24}[timeframe]
    rule = {"4h": "4h", "1d": "1D"}[timeframe]
    grouped = df.resample(rule, label="left", closed="left")
    htf = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})[
        grouped.size() > 0
    ]
    cls = REGISTRY.get_module(module_id)
    full = cls.validate_config(config or {})
    name = cls.column_name(full, output)
    inner = cls().calculate(htf, config or {})[name].to_numpy()
    htf_close = htf.index + pd.Timedelta(hours=hours)
    expected = []
    for t in df.index:
        done = np.flatnonzero(htf_close <= t + pd.Timedelta(hours=1))
        expected.append(inner[done[-1]] if len(done) else None)
    return expected


@pytest.mark.parametrize("module_id,timeframe", [("market_structure_shift", "4h"), ("ema", "4h"), ("rsi", "1d")])
def test_values_come_from_the_last_completed_htf_bar(module_id, timeframe):
    df = load_sample()
    out = outputs(df, module=module_id, timeframe=timeframe)
    expected = reference(df, module_id, timeframe)
    cls = REGISTRY.get_module(module_id)
    for t, want in enumerate(expected):
        if cls.primary_output().kind == "categorical":
            direction = {"bullish": 1.0, "bearish": -1.0}
            got = out["value"][t]
            assert np.isnan(got) if want is None else got == direction.get(want, 0.0), t
            assert out["bias"][t] == (
                "neutral" if want is None else want if want in ("bullish", "bearish") else "neutral"
            )
        else:
            got = out["value"][t]
            assert np.isnan(got) if want is None else (np.isnan(want) and np.isnan(got)) or got == want, t


def test_hourly_bar_that_completes_a_4h_bar_is_the_first_to_see_it():
    df = load_sample()
    out = outputs(df, module="ema", timeframe="4h", module_config={"period": 3})
    htf_open = pd.to_datetime(out["htf_open"], unit="s", utc=True)
    used = ~np.isnan(out["htf_open"])
    # the HTF bar in use always closed at or before this bar's close
    closes = datetime_index(df) + pd.Timedelta(hours=1)
    assert (htf_open[used] + pd.Timedelta(hours=4) <= closes[used]).all()
    # and a new one appears exactly at the bar closing at its end (03:00, 07:00, ... UTC)
    new = df.index[out["new_bar"]]
    assert set(new.hour) <= {3, 7, 11, 15, 19, 23}
    first = np.flatnonzero(out["new_bar"])[0]
    assert df.index[first].hour == 3 and np.isnan(out["value"][first - 1])


@pytest.mark.parametrize(
    "config",
    [
        {"module": "market_structure_shift", "timeframe": "4h"},
        {"module": "ema", "timeframe": "4h", "module_config": {"period": 5}},
        {"module": "rsi", "timeframe": "1d", "bias_from": "slope"},
        {"module": "supertrend", "timeframe": "4h", "module_output": "direction"},
    ],
)
def test_no_look_ahead_at_every_cut_around_htf_boundaries(config):
    """Truncate at every bar of two days, including each 4h and day boundary: the outputs up to
    the cut never change, so no value reads a bar after its own."""
    df = random_bars(600)
    full = outputs(df, **config)
    start = np.flatnonzero(df.index >= df.index[300].normalize())[0]
    for cut in range(start, start + 48):
        part = outputs(df.iloc[:cut], **config)
        for name, values in part.items():
            a, b = full[name][:cut], values
            same = (
                np.array_equal(a, b, equal_nan=True)
                if a.dtype.kind == "f"
                else np.array_equal(a.astype(str), b.astype(str))
            )
            assert same, f"{name} changes at the cut {cut} ({df.index[cut]})"


def test_future_bars_inside_the_forming_htf_bar_do_not_leak():
    """Rewrite every bar after t (also those in t's own, still-forming 4h bar): nothing at or
    before t changes."""
    df = random_bars(800, gaps=False)
    config = {"module": "ema", "timeframe": "4h", "module_config": {"period": 2}}
    base = outputs(df, **config)
    for t in (401, 402, 403, 404):  # 4h boundary at 404 (00:00 + 101 * 4h)
        changed = df.copy()
        changed.iloc[t + 1 :, :4] *= 1.5
        out = outputs(changed, **config)
        for name in out:
            a, b = base[name][: t + 1], out[name][: t + 1]
            assert (
                np.array_equal(a, b, equal_nan=True)
                if a.dtype.kind == "f"
                else np.array_equal(a.astype(str), b.astype(str))
            ), (name, t)


def test_bias_rules():
    df = load_sample()
    ema = outputs(df, module="ema", timeframe="4h", module_config={"period": 10})
    close = df["close"].to_numpy()
    ok = ~np.isnan(ema["value"])
    assert (ema["bias"][ok & (close > ema["value"])] == "bullish").all()
    assert (ema["bias"][ok & (close < ema["value"])] == "bearish").all()
    assert (ema["bias"][~ok] == "neutral").all()
    slope = outputs(df, module="rsi", timeframe="4h", bias_from="slope")
    value = slope["value"]
    changed = np.flatnonzero(slope["new_bar"])
    for i in changed[1:]:
        before = value[i - 1]
        if not np.isnan(before) and value[i] != before:
            assert slope["bias"][i] == ("bullish" if value[i] > before else "bearish")
    position = outputs(df, module="sma", timeframe="4h", module_output="value")
    assert set(position["bias"]) <= {"bullish", "bearish", "neutral"}
    kill = outputs(df, module="kill_zones", timeframe="4h", module_output="in_zone")
    assert set(kill["bias"]) == {"neutral"}
    assert set(np.unique(kill["value"][~np.isnan(kill["value"])])) <= {0.0, 1.0}


# ---- config and errors -----------------------------------------------------------------------


def test_htf_below_the_data_timeframe_is_rejected_clearly():
    hourly = load_sample()
    with pytest.raises(ModuleDataError, match="smaller than the data's timeframe 1h"):
        HTF().calculate(hourly, {"timeframe": "15m"})
    with pytest.raises(ModuleConfigError) as err:
        HTF.validate_config({"timeframe": "15m", "base_timeframe": "1h"})
    assert err.value.field == "timeframe"
    three_minute = random_bars(400, freq="3min", gaps=False)
    with pytest.raises(ModuleDataError, match="multiple"):
        HTF().calculate(three_minute, {"timeframe": "5m"})
    # equal timeframes are allowed: each bar sees itself once it has closed
    same = HTF().calculate(
        hourly, {"timeframe": "1h", "module": "sma", "module_config": {"period": 2}, "module_output": "value"}
    )
    assert len(same) == len(hourly)


def test_inner_config_is_validated_by_the_inner_module():
    with pytest.raises(ModuleConfigError) as err:
        HTF.validate_config({"module": "ema", "module_config": {"period": 5000}})
    assert err.value.field == "module_config" and "ema.period" in str(err.value)
    with pytest.raises(ModuleConfigError) as err:
        HTF.validate_config({"module": "ema", "module_config": {"nope": 1}})
    assert err.value.field == "module_config"
    with pytest.raises(ModuleConfigError) as err:
        HTF.validate_config({"module": "ema", "module_config": "period=5"})
    assert err.value.field == "module_config"
    with pytest.raises(ModuleConfigError) as err:
        HTF.validate_config({"module": "ema", "module_output": "bos"})
    assert err.value.field == "module_output"
    with pytest.raises(ModuleConfigError) as err:
        HTF.validate_config({"module": "market_structure_shift", "bias_from": "slope"})
    assert err.value.field == "bias_from"
    with pytest.raises(ModuleConfigError):
        HTF.validate_config({"module": "htf_filter"})
    assert "htf_filter" not in MODULE_OPTIONS and "fixed_units" not in MODULE_OPTIONS


def test_config_is_complete_hashable_json_and_names_distinct_columns():
    a = HTF.validate_config({"module": "ema", "module_config": {"period": 50}})
    b = HTF.validate_config({"module": "ema", "module_config": {"period": 200}})
    assert a["module_config"] == {"period": 50, "source": "close"}
    assert HTF.validate_config(a) == a  # idempotent
    hash(tuple(sorted(a.items())))  # the engine keys operands on this
    assert json.loads(json.dumps(a))["module_config"] == {"period": 50, "source": "close"}
    assert HTF.column_name(a) == "htf_filter_4h_ema_50"
    assert HTF.column_name(b) != HTF.column_name(a)
    assert HTF.column_name(a, "value") == "htf_filter_4h_ema_50_value"
    slope = HTF.validate_config({"module": "ema", "bias_from": "slope"})
    assert HTF.column_name(slope) == "htf_filter_4h_ema_20_slope"
    schema = HTF.get_config_schema()
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["module_config"]["type"] == "json"
    assert fields["module_config"]["schema_of"] == "module"
    assert "market_structure_shift" in fields["module"]["options"]
    assert fields["timeframe"]["options"] == ["5m", "15m", "30m", "1h", "4h", "1d"]


def test_the_issue_4_condition_is_one_condition():
    """ "4h market structure bias, computed without look-ahead" as one engine condition."""
    from backtests.engine.conditions import compute_operands, evaluate_condition
    from backtests.strategies.parse import parse_condition

    sub = {
        "moduleId": "htf_filter",
        "config": {
            "module": "market_structure_shift",
            "timeframe": "4h",
            "output": "bias",
            "operator": "==",
            "value": "bullish",
        },
    }
    condition = parse_condition(sub, "entry[0].subConfirmations[0]")
    df = load_sample()
    block = type("B", (), {"conditions": (condition,)})()
    columns = compute_operands(df, (block,))
    signal = evaluate_condition(condition, columns)
    expected = outputs(df, module="market_structure_shift", timeframe="4h")["bias"] == "bullish"
    assert signal.dtype == bool and np.array_equal(signal, expected) and signal.any()


def test_bars_closer_than_the_timeframe_are_rejected():
    """A declared (or inferred) bar size larger than the real spacing would date bar closes
    too late and let an HTF bar be used before all its bars happened: refused."""
    hourly = load_sample()
    with pytest.raises(ModuleDataError, match="apart"):
        HTF().calculate(hourly, {"base_timeframe": "4h", "timeframe": "4h"})
    irregular = hourly.drop(hourly.index[10:400:2])  # mostly 2h spacing, some 1h
    irregular = irregular.iloc[:300]
    with pytest.raises(ModuleDataError, match="apart"):
        HTF().calculate(irregular, {"timeframe": "4h"})
