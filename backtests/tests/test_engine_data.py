"""The engine refuses bad bars (``INVALID_DATA`` naming the first bad one) on its direct paths.
Pure: no Django, no database."""

import numpy as np
import pandas as pd
import pytest

from backtests.engine import EngineError, Signals, run_backtest, simulate_signals
from backtests.strategies.parse import build_strategy

BODY = {"decisionBlocks": [{"subConfirmations": [{"moduleId": "rsi", "config": {"operator": "<", "value": 30}}]}]}


def frame(n=40):
    index = pd.date_range("2024-01-02", periods=n, freq="h", tz="UTC", name="timestamp")
    close = 100.0 + np.sin(np.arange(n) / 3.0)
    return pd.DataFrame(
        {"open": close, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 1000.0}, index=index
    )


def refusal(data):
    with pytest.raises(EngineError) as caught:
        run_backtest(data, build_strategy(BODY))
    return caught.value


@pytest.mark.parametrize(
    "column, value, reason",
    [
        ("close", np.nan, "is not a finite number (NaN or infinity)"),
        ("open", np.inf, "is not a finite number (NaN or infinity)"),
        ("low", 0.0, "is not positive"),
        ("high", -1.0, "is not positive"),
    ],
)
def test_a_bad_price_is_refused_naming_its_bar(column, value, reason):
    data = frame()
    data.iloc[17, data.columns.get_loc(column)] = value
    error = refusal(data)
    assert error.code == "INVALID_DATA" and error.status_code == 400
    assert error.details == {"bar": 17, "column": column, "reason": reason, "time": "2024-01-02T17:00:00+00:00"}
    assert "bar 17" in error.message


def test_a_high_below_the_low_is_refused():
    data = frame()
    data.iloc[5, data.columns.get_loc("high")] = data["low"].iloc[5] - 1.0
    assert refusal(data).details["reason"] == "is below the low"


def test_the_first_bad_bar_is_named_whatever_the_column():
    data = frame()
    data.iloc[20, data.columns.get_loc("close")] = np.nan
    data.iloc[9, data.columns.get_loc("open")] = 0.0
    assert refusal(data).details["bar"] == 9


@pytest.mark.parametrize("duplicate", [True, False])
def test_unsorted_or_duplicate_times_are_refused(duplicate):
    data = frame()
    times = data.index.to_numpy().copy()
    times[12] = times[11] if duplicate else times[10]
    data.index = pd.DatetimeIndex(times, name="timestamp")
    details = refusal(data).details
    assert details["bar"] == 12 and details["column"] == "timestamp"
    assert details["reason"] == ("repeats the previous bar's time" if duplicate else "is before the previous bar")


def test_simulate_signals_refuses_too():
    data = frame()
    data.iloc[3, data.columns.get_loc("close")] = np.nan
    none = np.zeros(len(data), dtype=bool)
    with pytest.raises(EngineError) as caught:
        simulate_signals(data, build_strategy(BODY), Signals(none, none, none, none))
    assert caught.value.code == "INVALID_DATA"


def test_good_data_passes():
    assert run_backtest(frame(), build_strategy(BODY)).bars == 40


@pytest.mark.parametrize(
    "column, value",
    [
        ("open", np.nan),
        ("open", np.inf),
        ("open", 0.0),
        ("high", np.inf),
        ("high", np.nan),
        ("low", -1.0),
        ("low", np.nan),
        ("high", 99.0),  # below the low
        ("close", np.nan),  # a finer bar's close is not checked
        ("timestamp", None),
        (None, None),
    ],
)
def test_the_finer_bars_compiled_check_says_what_the_plain_checks_say(column, value):
    """check_bars on the magnifier's columns (open, high, low) takes the compiled pass; it must
    accept exactly what the per-check reductions accept."""
    from backtests.engine import jit, validate

    data = frame()
    data["low"] = 99.5
    if column == "timestamp":
        times = data.index.to_numpy().copy()
        times[7] = times[6]
        data.index = pd.DatetimeIndex(times, name="timestamp")
    elif column is not None:
        data.iloc[7, data.columns.get_loc(column)] = value
    prices = {c: data[c].to_numpy(dtype=np.float64) for c in validate.FINER_COLUMNS}
    compiled = validate._plainly_valid(prices, data.index)
    assert jit.usable(validate._ohlc_plainly_valid)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validate, "FINER_COLUMNS", ("not", "these"))  # the reductions' way
        plain = validate._plainly_valid(prices, data.index)
    assert compiled == plain == (column in (None, "close"))
