"""The account model, one rule per test with hand-computed expectations: the instrument's grid
(tick, lot step, minimum), the leverage cap, liquidation, the wipe-out, financing times and the
bar magnifier. Pure: no Django, no database."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from backtests.engine import Signals, simulate_signals
from backtests.engine.account import Account
from backtests.engine.errors import EngineError
from backtests.engine.financing import financing_rates
from backtests.engine.instrument import Instrument, generic_instrument
from backtests.engine.intrabar import median_step
from backtests.strategies.parse import build_strategy
from backtests.tests.test_engine_semantics import bars, flat, mask

BLOCK = [{"subConfirmations": [{"moduleId": "rsi", "config": {"operator": "<", "value": 30}}]}]
GRID = Instrument(symbol="TEST", tick_size=0.01, contract_size=100.0, lot_step=0.01, min_lots=0.1, margin_rate=0.05)


NO_ACCOUNT = Account()


def run(data, *, long=(), short=(), instrument=None, account=NO_ACCOUNT, sizing=None, intrabar=None, **body):
    direction = "Short" if short else "Long"
    request = {
        "marketContext": {"direction": direction},
        "decisionBlocks": BLOCK,
        "sizing": sizing or {"moduleId": "fixed_units", "config": {"units": 10}},
        **body,
    }
    spec = replace(build_strategy(request), instrument=instrument, account=account)
    n = len(data)
    none = mask(n)
    signals = Signals(mask(n, long), mask(n, short), none, none)
    if intrabar is not None:
        from backtests.engine.run import _simulate_and_measure

        return _simulate_and_measure(data, spec, signals, lambda *a: None, intrabar=intrabar)
    return simulate_signals(data, spec, signals)


# ---- the instrument's grid ---------------------------------------------------------------------


def test_fills_round_to_the_tick_against_the_trader():
    # given a 0.01 tick and a 0.013 spread (0.0065 a fill)
    data = bars(flat(2) + [(100.0, 100.5, 99.5, 100.0), (101.0, 101.5, 100.5, 101.0)])
    [trade] = run(data, long=[1], instrument=GRID, costs={"spread": 0.013}).trades.itertuples()
    # then the buy at 100.0065 pays 100.01 and the sell at 100.9935 gets 100.99
    assert trade.entry_price == pytest.approx(100.01) and trade.exit_price == pytest.approx(100.99)
    # the rounding is booked as slippage: pnl = gross 10 - spread 0.13 - rounding 0.07
    assert trade.spread_cost == pytest.approx(10 * 0.013)
    assert trade.slippage_cost == pytest.approx(10 * (0.0035 + 0.0035))
    assert trade.pnl == pytest.approx(10 * (100.99 - 100.01))


def test_sizes_round_down_to_the_lot_step():
    # 1 lot = 100 units, step 0.01 lot = 1 unit: 10.7 units asked -> 10
    [trade] = run(
        bars(flat(4)), long=[1], instrument=GRID, sizing={"moduleId": "fixed_units", "config": {"units": 10.7}}
    ).trades.itertuples()
    assert trade.size == 10.0 and trade.requested_size == pytest.approx(10.7)


def test_a_size_under_the_minimum_is_skipped_and_counted():
    # minimum 0.1 lot = 10 units; 9.99 rounds to 9 units
    result = run(
        bars(flat(4)), long=[1], instrument=GRID, sizing={"moduleId": "fixed_units", "config": {"units": 9.99}}
    )
    assert result.trades.empty
    assert result.metrics["skipped_below_min_size"] == 1 and result.metrics["skipped_entries"] == 0
    assert any("under the minimum of 0.1 lots" in w for w in result.warnings)


def test_decimals_follow_the_tick():
    assert [Instrument("X", tick_size=t).decimals for t in (0.00001, 0.01, 0.25, 1.0, 0.001)] == [5, 2, 2, 0, 3]
    assert generic_instrument("abc").generic and generic_instrument("abc").symbol == "ABC"


def test_an_instrument_row_with_an_unknown_field_or_a_bad_value_is_refused():
    with pytest.raises(ValueError, match="unknown fields tick"):
        Instrument.from_dict({"symbol": "X", "tick": 0.1})
    with pytest.raises(ValueError, match="margin_rate must be positive"):
        Instrument("X", margin_rate=0)


# ---- leverage cap ------------------------------------------------------------------------------


def test_leverage_caps_the_notional_and_the_trade_keeps_what_was_asked():
    # equity 10,000, leverage 2 -> at most 20,000 of notional at a fill of 100: 200 units
    result = run(
        bars(flat(4)),
        long=[1],
        account=Account(leverage=2),
        sizing={"moduleId": "fixed_units", "config": {"units": 500}},
    )
    [trade] = result.trades.itertuples()
    assert trade.size == pytest.approx(200.0) and trade.requested_size == 500.0
    assert result.metrics["capped_entries"] == 1 and result.metrics["leverage_cap"] == 2
    assert any("leverage 2:1" in w for w in result.warnings)


def test_under_the_cap_nothing_changes():
    [trade] = run(bars(flat(4)), long=[1], account=Account(leverage=2)).trades.itertuples()
    assert trade.size == 10.0 and trade.requested_size == 10.0


# ---- liquidation and wipe-out ------------------------------------------------------------------


def ten_times(data, **body):
    """1,000 units long from bar 2's open on 10,000 under leverage 10, maintenance margin 5 %."""
    account = Account(leverage=10, maintenance_margin_pct=5)
    return run(data, long=[1], account=account, sizing={"moduleId": "fixed_units", "config": {"units": 1000}}, **body)


def test_liquidation_at_the_maintenance_margin_inside_the_bar():
    # given 1,000 units long at 100 on 10,000 (10x), maintenance 5 %:
    # P = (F - cash) / (S (1 - m)) = (100,000 - 10,000) / (1,000 x 0.95) = 94.7368...
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (99, 99.5, 94, 95), (95, 96, 94, 95)])
    result = ten_times(data)
    [trade] = result.trades.itertuples()
    liquidation = 90_000 / 950
    assert (trade.exit_bar, trade.exit_reason) == (3, "liquidation")
    assert trade.exit_price == pytest.approx(liquidation)
    # what is left is the maintenance margin: 5 % of the notional at that price
    assert result.equity.iloc[3] == pytest.approx(0.05 * 1000 * liquidation)
    assert result.metrics["liquidations"] == 1 and not result.metrics["wiped_out"]


def test_a_gap_beyond_the_liquidation_price_fills_at_the_open():
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (90, 91, 89, 90), (90, 91, 89, 90)])
    result = ten_times(data)
    [trade] = result.trades.itertuples()
    assert (trade.exit_price, trade.exit_reason) == (90.0, "liquidation")
    # the loss (10,000) took the whole account: it stops at 0 and trading ends
    assert result.metrics["wiped_out"] and (result.equity.iloc[3:] == 0).all()
    assert any(w.startswith("ACCOUNT_WIPED_OUT") for w in result.warnings)


def test_a_stop_before_the_liquidation_price_fills_first():
    data = bars(flat(2) + [(100, 100.5, 99.5, 100), (99, 99.5, 94, 95), (95, 96, 94, 95)])
    result = ten_times(data, exit={"stopLoss": 3, "stopLossUnit": "points"})
    [trade] = result.trades.itertuples()
    assert (trade.exit_price, trade.exit_reason) == (97.0, "stop")


def test_a_runaway_short_wipes_the_account_out_at_zero_and_trading_stops():
    # the case: a short that runs away. Without a margin (maintenance 0) the position is
    # closed where equity reaches 0: P = (cash + F) / S = (10,000 + 10,000) / 100 = 200
    rows = (
        flat(2)
        + [(100, 101, 99, 100)]
        + [(100 + 40 * i, 101 + 40 * i + 40, 99 + 40 * i, 140 + 40 * i) for i in range(5)]
    )
    short = [1, 3, 4, 5]  # more signals after the wipe-out are not taken
    result = run(bars(rows), short=short, sizing={"moduleId": "percent_of_equity", "config": {"percent": 100}})
    [trade] = result.trades.itertuples()
    assert trade.exit_reason == "liquidation" and trade.exit_price == pytest.approx(200.0)
    assert trade.pnl == pytest.approx(-10_000.0)
    wiped = trade.exit_bar
    assert (result.equity.iloc[wiped:] == 0).all() and (result.equity >= 0).all()
    # metrics are never computed across a non-positive equity
    assert result.metrics["sharpe"] is None and result.metrics["max_drawdown_pct"] == pytest.approx(100.0)
    assert result.metrics["wiped_out"]


def test_leverage_1_long_is_never_liquidated():
    rows = flat(2) + [(100, 101, 99, 100), (50, 51, 1, 2), (2, 3, 1, 2)]
    result = run(bars(rows), long=[1], sizing={"moduleId": "percent_of_equity", "config": {"percent": 100}})
    [trade] = result.trades.itertuples()
    assert trade.exit_reason == "end_of_data" and result.equity.iloc[-1] == pytest.approx(200.0)


# ---- financing ---------------------------------------------------------------------------------

SWAP = Instrument(symbol="EURUSD", financing="swap", swap_long_pct=0.01, swap_short_pct=-0.002)


def hours(start, n):
    return pd.date_range(start, periods=n, freq="h", tz="UTC")


def test_fx_swap_is_charged_at_17_new_york_and_wednesday_counts_three_nights():
    # given hourly bars from Monday 2024-01-08 (New York is UTC-5 in January: rollover 22:00 UTC)
    index = hours("2024-01-08 00:00", 24 * 7)
    long, short = financing_rates(index, SWAP)
    charged = index[np.flatnonzero(long)]
    # then the bar before 22:00 UTC carries each weekday's rollover (open 21:00 < 22:00 <= 22:00)
    assert [t.strftime("%a %H:%M") for t in charged] == [
        "Mon 21:00",
        "Tue 21:00",
        "Wed 21:00",
        "Thu 21:00",
        "Fri 21:00",
    ]
    assert long[np.flatnonzero(long)].tolist() == pytest.approx([0.0001, 0.0001, 0.0003, 0.0001, 0.0001])
    assert short[np.flatnonzero(short)].tolist() == pytest.approx([-0.00002, -0.00002, -0.00006, -0.00002, -0.00002])


def test_rollover_follows_new_york_summer_time():
    index = hours("2024-07-01 00:00", 24)  # UTC-4 in July: 21:00 UTC
    long, _ = financing_rates(index, SWAP)
    assert [t.hour for t in index[np.flatnonzero(long)]] == [20]


def test_perpetual_funding_every_8_hours_longs_pay_shorts_earn():
    perp = Instrument(symbol="BTCUSD", financing="funding", funding_pct=0.01)
    index = hours("2024-01-06 00:00", 25)  # a Saturday: crypto funds every day
    long, short = financing_rates(index, perp)
    # events at 08:00 and 16:00 (and 00:00 the next day) charged at the bars opening an hour before;
    # 00:00 of the first bar is at its open, so it belongs to the bar before the data
    assert [t.hour for t in index[np.flatnonzero(long)]] == [7, 15, 23]
    assert long.max() == pytest.approx(0.0001) and short.min() == pytest.approx(-0.0001)


def test_stock_borrow_charges_shorts_daily_and_friday_three_nights():
    stock = Instrument(symbol="AAPL", asset_class="stock", financing="borrow", borrow_pct=3.6)
    index = pd.date_range("2024-01-08", periods=14, freq="D", tz="UTC")  # daily bars open at 00:00 UTC
    long, short = financing_rates(index, stock)
    assert not long.any()
    nights = short / (0.036 / 360)
    # the 17:00 New York rollover of day D falls in the bar opening at D 00:00 UTC
    assert nights[:5].tolist() == pytest.approx([1, 1, 1, 1, 3])
    assert nights[5:7].tolist() == [0, 0]


def test_financing_is_charged_per_trade_and_out_of_equity():
    # 10 units long at 100 held over one Tuesday rollover (0.01 % of 10 x close 100 = 0.1)
    index = hours("2024-01-09 19:00", 5)
    data = bars(flat(5), start=index[0])
    result = run(data, long=[0], instrument=replace(SWAP, tick_size=0.01, lot_step=0.0001, min_lots=0))
    [trade] = result.trades.itertuples()
    assert trade.financing == pytest.approx(0.1) and trade.pnl == pytest.approx(-0.1)
    assert result.metrics["total_financing"] == pytest.approx(0.1)
    assert result.equity.iloc[-1] == pytest.approx(10_000 - 0.1)
    # and turned off by the account
    off = run(data, long=[0], instrument=SWAP, account=Account(financing=False))
    assert off.trades.financing.tolist() == [0.0]


# ---- commissions -------------------------------------------------------------------------------


def test_commission_per_lot_with_a_minimum():
    # 10 units of a 100-unit lot = 0.1 lot; 7 per lot -> 0.7 a fill, raised to the minimum 1
    data = bars(flat(4))
    [trade] = run(
        data, long=[1], instrument=GRID, costs={"commissionPerLot": 7, "commissionMin": 1}
    ).trades.itertuples()
    assert trade.commission == pytest.approx(2.0)
    [trade] = run(
        data,
        long=[1],
        instrument=GRID,
        costs={"commissionPerLot": 7},
        sizing={"moduleId": "fixed_units", "config": {"units": 50}},
    ).trades.itertuples()
    assert trade.commission == pytest.approx(2 * 0.5 * 7)


def test_the_instruments_commission_per_fill_and_minimum_with_from_instrument():
    # a broker charging 0.5 a fill, at least 3: 10 units pay 0.5, raised to 3, on each of two fills
    broker = replace(GRID, commission_per_fill=0.5, commission_min=3.0)
    data = bars(flat(4))
    signals = Signals(mask(4, [1]), mask(4), mask(4), mask(4))

    def commission(costs):
        request = {"decisionBlocks": BLOCK, "sizing": {"moduleId": "fixed_units", "config": {"units": 10}}}
        spec = build_strategy({**request, "costs": costs}, instrument=broker)
        [trade] = simulate_signals(data, replace(spec, account=NO_ACCOUNT), signals).trades.itertuples()
        return trade.commission

    assert commission({"fromInstrument": True}) == pytest.approx(2 * 3.0)
    assert commission({"fromInstrument": True, "commissionMin": 0}) == pytest.approx(2 * 0.5)  # given wins
    assert commission({"fromInstrument": True, "commissionFixed": 4, "commissionMin": 0}) == pytest.approx(2 * 4.0)
    assert commission({}) == 0.0  # the instrument's costs only with fromInstrument


# ---- the bar magnifier -------------------------------------------------------------------------


def hourly_with_minutes(minute_path):
    """Three hourly bars; the third (the trade's) is built from ``minute_path`` 1m closes."""
    path = np.asarray(minute_path, dtype=float)
    hour = (path[0], path.max(), path.min(), path[-1])
    data = bars(flat(2) + [hour])
    index = pd.date_range(data.index[2], periods=len(path), freq="min", tz="UTC")
    opens = np.concatenate(([path[0]], path[:-1]))
    finer = pd.DataFrame(
        {"open": opens, "high": np.maximum(opens, path), "low": np.minimum(opens, path), "close": path, "volume": 1.0},
        index=index,
    )
    return data, finer


EXIT = {"stopLoss": 2, "stopLossUnit": "points", "takeProfit": 3, "takeProfitUnit": "points"}


def test_the_magnifier_finds_the_target_was_hit_before_the_stop():
    # given an hour that rises to 103 in its first minutes and falls to 97 later: both levels in one bar
    minutes = list(np.linspace(100, 103.2, 20)) + list(np.linspace(103, 97.5, 40))
    data, finer = hourly_with_minutes(minutes)
    # then the hour alone, stop first by default, says stop
    [plain] = run(data, long=[1], exit=EXIT).trades.itertuples()
    assert (plain.exit_price, plain.exit_reason) == (98.0, "stop")
    # and the 1m bars prove the target came first
    magnified = run(data, long=[1], exit={**EXIT, "intrabar": "1m"}, intrabar=finer)
    [trade] = magnified.trades.itertuples()
    assert (trade.exit_price, trade.exit_reason) == (103.0, "target")
    assert magnified.metrics["intrabar_resolved"] == 1 and magnified.metrics["intrabar_unresolved"] == 0


def test_the_magnifier_confirms_a_stop_first_path():
    minutes = list(np.linspace(100, 97.8, 20)) + list(np.linspace(98, 103.5, 40))
    data, finer = hourly_with_minutes(minutes)
    [trade] = run(
        data, long=[1], exit={**EXIT, "intrabar": "1m", "sameBarPolicy": "target_first"}, intrabar=finer
    ).trades.itertuples()
    assert (trade.exit_price, trade.exit_reason) == (98.0, "stop")


def test_without_finer_bars_the_policy_decides_and_the_run_says_so():
    minutes = list(np.linspace(100, 103.2, 20)) + list(np.linspace(103, 97.5, 40))
    data, _ = hourly_with_minutes(minutes)
    result = run(data, long=[1], exit={**EXIT, "intrabar": "1m"}, intrabar=pd.DataFrame())
    assert result.trades.exit_reason.tolist() == ["stop"]
    assert any("No 1m bars were available" in w for w in result.warnings)


def test_the_magnifier_moves_a_trailing_stop_inside_the_bar():
    # trailing 1 point: the hour rises to 102 then falls to 99.5. The hour alone keeps the level
    # at the entry open's 100 - 1 = 99 (not hit); the minutes trail it to 101 and exit there
    minutes = list(np.linspace(100, 102, 20)) + list(np.linspace(102, 99.5, 40))
    data, finer = hourly_with_minutes(minutes)
    rules = {"trailingStop": 1, "trailingStopUnit": "points"}
    assert run(data, long=[1], exit=rules).trades.exit_reason.tolist() == ["end_of_data"]
    [trade] = run(data, long=[1], exit={**rules, "intrabar": "1m"}, intrabar=finer).trades.itertuples()
    assert trade.exit_reason == "trailing" and trade.exit_price == pytest.approx(101.0)


def hours_with_minutes(hour_paths):
    """Hourly bars, each built from its list of 1m closes, and those 1m bars."""
    rows, minutes = [], []
    start = pd.Timestamp("2024-01-02 00:00", tz="UTC")
    for hour, closes in enumerate(hour_paths):
        path = np.asarray(closes, dtype=float)
        opens = np.concatenate(([path[0]], path[:-1]))
        rows.append((path[0], path.max(), path.min(), path[-1]))
        index = pd.date_range(start + pd.Timedelta(hours=hour), periods=len(path), freq="min", tz="UTC")
        minutes.append(
            pd.DataFrame({"open": opens, "high": np.maximum(opens, path), "low": np.minimum(opens, path)}, index=index)
        )
    return bars(rows), pd.concat(minutes)


TARGET_FIRST = list(np.linspace(100, 103.2, 20)) + list(np.linspace(103, 97.5, 40))
STOP_FIRST = list(np.linspace(100, 97.8, 20)) + list(np.linspace(98, 103.5, 40))
QUIET = [100.0] * 60


def test_each_ambiguous_bar_is_settled_by_its_own_finer_bars():
    # given two trades whose hours both hold stop and target, the first target-first, the second stop-first
    data, finer = hours_with_minutes([QUIET, QUIET, TARGET_FIRST, QUIET, STOP_FIRST, QUIET])
    # when magnified, each hour reads its own minutes only (not the next hour's)
    result = run(data, long=[1, 3], exit={**EXIT, "intrabar": "1m"}, intrabar=finer)
    assert [(t.exit_bar, t.exit_price, t.exit_reason) for t in result.trades.itertuples()] == [
        (2, 103.0, "target"),
        (4, 98.0, "stop"),
    ]
    assert (result.metrics["intrabar_resolved"], result.metrics["intrabar_unresolved"]) == (2, 0)
    assert result.warnings == []


def test_a_bar_without_finer_bars_falls_back_to_the_policy_and_is_counted():
    data, finer = hours_with_minutes([QUIET, QUIET, TARGET_FIRST, QUIET, STOP_FIRST, QUIET])
    without_third_hour = finer[(finer.index < data.index[2]) | (finer.index >= data.index[3])]
    result = run(
        data,
        long=[1, 3],
        exit={**EXIT, "intrabar": "1m", "sameBarPolicy": "target_first"},
        intrabar=without_third_hour,
    )
    # the third hour's trade: no minutes, so target_first; the fifth's minutes say stop
    assert result.trades.exit_reason.tolist() == ["target", "stop"]
    assert (result.metrics["intrabar_resolved"], result.metrics["intrabar_unresolved"]) == (1, 1)
    assert any("1 bars held both the stop and the target" in w for w in result.warnings)


def test_finer_bars_outside_the_run_are_no_finer_bars():
    data, finer = hours_with_minutes([QUIET, QUIET, TARGET_FIRST])
    later = finer.set_axis(finer.index + pd.Timedelta(days=1))
    result = run(data, long=[1], exit={**EXIT, "intrabar": "1m"}, intrabar=later)
    assert result.trades.exit_reason.tolist() == ["stop"]
    assert any("No 1m bars were available" in w for w in result.warnings)


def test_bad_finer_bars_are_refused_naming_the_bar():
    data, finer = hours_with_minutes([QUIET, QUIET, TARGET_FIRST])
    finer.iloc[130, finer.columns.get_loc("low")] = np.nan
    with pytest.raises(EngineError) as raised:
        run(data, long=[1], exit={**EXIT, "intrabar": "1m"}, intrabar=finer)
    assert raised.value.code == "INVALID_DATA" and raised.value.details["bar"] == 130


def test_finer_bars_that_passed_the_check_are_not_checked_again_until_they_change(monkeypatch):
    from backtests.engine import run as engine_run
    from backtests.engine import validate

    # given finer bars the engine has not seen, and a count of the checks of the finer columns
    monkeypatch.setattr(engine_run, "_FINER", engine_run._SeriesMemo(max_bytes=2**30))
    checked = []

    def check_bars(data, columns=validate.PRICE_COLUMNS):
        checked.append(columns)
        return validate.check_bars(data, columns)

    monkeypatch.setattr(engine_run, "check_bars", check_bars)
    data, finer = hours_with_minutes([QUIET, QUIET, TARGET_FIRST, QUIET, STOP_FIRST, QUIET])
    magnified = {"exit": {**EXIT, "intrabar": "1m"}, "intrabar": finer}
    # when two runs read them (the second through a shallow copy), they are checked once, same trades
    first = run(data, long=[1, 3], **magnified)
    second = run(data, long=[1, 3], exit=magnified["exit"], intrabar=finer.copy(deep=False))
    assert checked.count(validate.FINER_COLUMNS) == 1
    assert first.trades.equals(second.trades) and first.metrics == second.metrics
    # then a low changed through pandas is checked again and refused at its bar
    finer.iloc[130, finer.columns.get_loc("low")] = np.nan
    with pytest.raises(EngineError) as raised:
        run(data, long=[1, 3], **magnified)
    assert raised.value.details["bar"] == 130 and checked.count(validate.FINER_COLUMNS) == 2


@pytest.mark.parametrize(
    "steps",
    [
        [60] * 9 + [3600] * 2,  # a regular series with gaps
        [60] * 10 + [3600] * 2,  # even: the middle pair is equal
        [60] * 6 + [120] * 6,  # even: the middle pair differs, the mean
        [60, 120, 180, 240, 300],  # no value repeats
        [7],  # one step
        [],  # one bar
    ],
)
def test_the_last_bars_span_is_the_median_step(steps):
    opens = np.concatenate(([0], np.cumsum(np.asarray(steps, dtype=np.int64)))) * 1_000_000_000
    expected = int(np.median(np.diff(opens))) if len(opens) > 1 else 0
    assert median_step(opens) == expected
