"""What the charts and data notes are computed from."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from reports import analysis, charts

from .factories import make_trades, synthetic_prices


def series(values, start="2024-01-01", freq="D"):
    index = pd.date_range(start, periods=len(values), freq=freq, tz="UTC")
    return pd.Series(np.asarray(values, dtype=float), index=index)


def test_equity_series_reads_the_stored_pairs():
    equity = analysis.equity_series([["2024-01-01T00:00:00+00:00", 100.0], ["2024-01-02T00:00:00+00:00", 101.5]])
    assert list(equity) == [100.0, 101.5] and str(equity.index.tz) == "UTC"
    assert analysis.equity_series([]).empty


def test_drawdown_is_zero_at_new_highs_and_percent_below_the_peak():
    dd = analysis.drawdown_pct(series([100, 110, 99, 121]))
    assert list(dd.round(6)) == [0.0, 0.0, -10.0, 0.0]


def test_monthly_returns_chain_from_the_initial_capital():
    equity = pd.Series(
        [10_000, 11_000, 11_000, 9_900, 10_890],
        index=pd.to_datetime(["2023-12-15", "2023-12-31", "2024-01-10", "2024-01-31", "2024-02-29"], utc=True),
    )
    table = analysis.monthly_returns(equity, 10_000)
    assert table.loc[2023, 12] == pytest.approx(10.0)
    assert table.loc[2024, 1] == pytest.approx(-10.0)
    assert table.loc[2024, 2] == pytest.approx(10.0)
    assert np.isnan(table.loc[2024, 3])
    assert table.loc[2024, "year"] == pytest.approx(-1.0)  # 0.9 × 1.1


def test_buy_and_hold_uses_the_last_close_at_or_before_each_time():
    close = series([50, 55, 60], freq="h")
    at = pd.DatetimeIndex([close.index[0], close.index[1] + pd.Timedelta(minutes=30), close.index[2]])
    assert list(analysis.buy_and_hold(close, at, 1000)) == [1000, 1100, 1200]


def test_wins_and_losses_are_counted_by_entry_hour_and_weekday():
    trades = pd.DataFrame(
        {
            "entry_time": pd.to_datetime(
                ["2024-01-01 09:15", "2024-01-01 09:45", "2024-01-02 14:00", "2024-01-03 14:00"], utc=True
            ),
            "pnl": [5.0, -2.0, 0.0, 1.0],
        }
    )
    labels, wins, losses = analysis.wins_losses_by(trades, "hour")
    assert len(labels) == 24 and (wins[9], losses[9], wins[14], losses[14]) == (1, 1, 1, 0)
    labels, wins, losses = analysis.wins_losses_by(trades, "weekday")
    assert labels == ["Mon", "Tue", "Wed", "Thu", "Fri"], "no weekend columns when nothing traded then"
    assert list(wins) == [1, 0, 1, 0, 0] and list(losses) == [1, 0, 0, 0, 0]


def stored(extras: dict) -> dict:
    """What the database gives back: strict JSON (no NaN)."""
    return json.loads(json.dumps(extras, allow_nan=False))


def test_report_extras_store_json_that_draws_the_charts_the_prices_draw():
    prices = synthetic_prices()
    trades = analysis.trade_frame(SimpleNamespace(**t) for t in make_trades(prices, 20))
    at = prices.index[::40]
    equity = pd.Series(np.linspace(10_000, 11_000, len(at)), index=at)
    extras = stored(analysis.report_extras(prices, trades, at, 10_000))

    assert extras["has_prices"] is True
    assert [t for t, _ in extras["benchmark"]] == [t.isoformat() for t in at]
    assert extras["benchmark"][0] == ["2024-01-01T00:00:00+00:00", 10_000.0]
    benchmark = analysis.buy_and_hold(prices["close"], at, 10_000)
    assert charts.equity_chart(equity, analysis.stored_benchmark(extras), 10_000) == charts.equity_chart(
        equity, benchmark, 10_000
    )
    live, kept = analysis.trade_windows(prices, trades), analysis.stored_trade_windows(extras)
    assert [w.title for w in kept] == [w.title for w in live] and kept[0].title.startswith("Best trade")
    assert len(kept) == 2 and all(w["bars"]["time"][0].endswith("+00:00") for w in extras["trade_windows"])
    for made, read in zip(live, kept):
        assert charts.price_chart(read.prices, read.marks, read.title) == charts.price_chart(
            made.prices, made.marks, made.title
        )


def test_report_extras_take_a_trade_frame_with_more_columns_and_any_r():
    prices = synthetic_prices(end="2024-02-01")
    rows = pd.DataFrame(make_trades(prices, 3)).assign(size=1.0, exit_reason="stop")  # extra columns
    rows["r_multiple"] = [np.nan, 1.0, np.inf]
    extras = stored(analysis.report_extras(prices, rows, prices.index[[0, -1]], 5_000))
    assert len(extras["trade_windows"]) == 2 and extras["benchmark"][0][1] == 5_000.0


def test_buy_and_hold_is_bought_at_the_first_equity_time_not_in_the_warm_up():
    prices = synthetic_prices(end="2024-03-01")
    close = prices["close"]
    at = prices.index[prices.index >= "2024-02-01"][::10]  # warm-up bars before February
    extras = analysis.report_extras(prices, analysis.trade_frame([]), at, 10_000)
    assert extras["benchmark"][0] == [at[0].isoformat(), 10_000.0]
    assert extras["benchmark"][-1][1] == pytest.approx(close[at[-1]] / close[at[0]] * 10_000)


def test_without_prices_there_is_no_benchmark_and_no_window():
    trades = analysis.trade_frame([])
    assert analysis.report_extras(None, trades, pd.DatetimeIndex([], tz="UTC"), 10_000) == {
        "version": analysis.REPORT_DATA_VERSION,
        "has_prices": False,
        "benchmark": [],
        "trade_windows": [],
    }
    assert analysis.stored_benchmark(None) is None and analysis.stored_trade_windows(None) == []


def test_a_long_trade_window_is_stored_thinned_with_its_extremes():
    prices = synthetic_prices(timeframe="15m")
    trades = analysis.trade_frame(SimpleNamespace(**t) for t in make_trades(prices, 1, hold=5_000))
    (live,) = analysis.trade_windows(prices, trades)
    (kept,) = analysis.stored_trade_windows(stored(analysis.report_extras(prices, trades, prices.index[:1], 1)))
    assert len(live.prices) > 5_000 and len(kept.prices) <= analysis.MAX_WINDOW_BARS
    assert kept.prices.index[0] == live.prices.index[0]
    assert kept.prices["high"].max() == pytest.approx(live.prices["high"].max(), rel=1e-9)
    assert kept.prices["low"].min() == pytest.approx(live.prices["low"].min(), rel=1e-9)
    assert kept.prices["open"].iloc[0] == pytest.approx(live.prices["open"].iloc[0], rel=1e-9)
    assert kept.prices["close"].iloc[-1] == pytest.approx(live.prices["close"].iloc[-1], rel=1e-9)
    assert kept.marks[0]["entry_time"] == live.marks[0]["entry_time"]
    assert "No price data" not in charts.price_chart(kept.prices, kept.marks, kept.title)


def _previous_report_extras(prices, trades, equity_index, capital, *, benchmark_closes=None) -> dict:
    """report_extras before its window bars were rounded in one call, its marks' times formatted
    in one call, its trade windows' times read without conversions and its closes sliced: the
    reference the stored report data must equal."""

    def naive_ns(times):
        times = pd.DatetimeIndex(times)
        times = times.tz_convert("UTC") if times.tz is not None else times.tz_localize("UTC")
        return times.tz_localize(None).as_unit("ns").to_numpy("datetime64[ns]")

    def stored_marks(marks):
        entries = analysis.iso_times([m["entry_time"] for m in marks])
        exits = analysis.iso_times([m["exit_time"] for m in marks])
        numbers = analysis._rounded([m[key] for m in marks for key in ("entry_price", "exit_price", "pnl")])
        return [
            {
                "entry_time": entry_time,
                "exit_time": exit_time,
                "entry_price": numbers[3 * k],
                "exit_price": numbers[3 * k + 1],
                "pnl": numbers[3 * k + 2],
                "direction": str(mark["direction"]),
            }
            for k, (mark, entry_time, exit_time) in enumerate(zip(marks, entries, exits))
        ]

    out = {"version": analysis.REPORT_DATA_VERSION, "has_prices": prices is not None and len(prices) > 1}
    out.update(benchmark=[], trade_windows=[])
    if prices is None:
        return out
    at = pd.DatetimeIndex(equity_index)
    close = prices["close"] if benchmark_closes is None else benchmark_closes
    if len(at):
        close = close[close.index >= at[0]]
    benchmark = analysis.buy_and_hold(close, at, capital)
    out["benchmark"] = [
        [t, v] for t, v in zip(analysis.iso_times(benchmark.index), analysis._rounded(benchmark.to_numpy()))
    ]
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(analysis, "_naive_ns", naive_ns)
        windows = analysis.trade_windows(prices, analysis._typed(trades))
    for window in windows:
        bars = analysis._thinned(window.prices)
        out["trade_windows"].append(
            {
                "title": window.title,
                "bars": {
                    "time": analysis.iso_times(bars.index),
                    **{c: analysis._rounded(bars[c]) for c in analysis.OHLC},
                },
                "marks": stored_marks(window.marks),
            }
        )
    return out


def test_report_extras_are_the_json_of_the_previous_code():
    """The stored report data is the same JSON text as the previous code's: no trade, one, many,
    a window thinned, trades timed in another zone, extra columns, a benchmark of its own, the
    equity's times in the warm-up or not, prices with a missing close."""
    prices = synthetic_prices(timeframe="15m", end="2024-12-31")
    gappy = prices.copy()
    gappy.iloc[[3, 500], gappy.columns.get_loc("close")] = np.nan
    other = synthetic_prices(market="EURUSD", timeframe="1h", end="2024-12-31")["close"]
    cases = []
    for count, hold in ((0, 5), (1, 5), (1, 3_000), (20, 40), (300, 3)):
        trades = analysis.trade_frame(SimpleNamespace(**t) for t in make_trades(prices, count, hold=hold))
        cases.append((prices, trades, prices.index[::40], {}))
    rows = pd.DataFrame(make_trades(prices, 12)).assign(size=1.0, exit_reason="stop")
    zoned = rows.assign(
        entry_time=pd.to_datetime(rows["entry_time"], utc=True).dt.tz_convert("Europe/London"),
        exit_time=pd.to_datetime(rows["exit_time"], utc=True).dt.tz_convert("America/New_York"),
    )
    cases += [
        (prices, rows, prices.index[2_000::37], {}),
        (prices, zoned, prices.index[::50], {}),
        (prices, rows, prices.index[100::10], {"benchmark_closes": other}),
        (gappy, rows, prices.index[::25], {}),
        (prices, rows, pd.DatetimeIndex([], tz="UTC"), {}),
        (None, rows, prices.index[::40], {}),
    ]
    for frame, trades, at, options in cases:
        faster = analysis.report_extras(frame, trades, at, 10_000.0, **options)
        previous = _previous_report_extras(frame, trades, at, 10_000.0, **options)
        assert json.dumps(faster) == json.dumps(previous)
