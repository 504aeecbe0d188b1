"""Agreement with vectorbt's cash-sharing portfolio: ``Portfolio.from_signals(group_by=True,
cash_sharing=True)`` and our ``run_portfolio`` on the same signals, fees and slippage.

Each basket must give identical trades (market, entry and exit bar, price, size) and final
equity within 1e-9 relative, with size in fixed units and as a percent of equity, on a
basket with capital too small for all signals (entries skipped on both sides) and on a mixed
calendar (24/5 FX with 24/7 crypto). How the comparison is made fair (docs/engine.md,
"Portfolios"):

- Fills at the next open: our signals on bar t's close fill at the market's next own bar's
  open; vectorbt gets the signals moved to that row and ``price=open``.
- Same-bar order: all exits of a bar before its entries, entries in the order of the markets
  (no ``rankBy``): vectorbt's ``call_seq`` is set per row to exactly that.
- End of data: we close what is open at the last bar's close; vectorbt gets an exit on the
  last row at the close. No signal on the last two bars (one order per row and column there).
- An entry and an exit signal on one bar: we exit and do not re-enter; vectorbt ignores both
  (``upon_long_conflict``), so the signals never coincide here.
- Percent of equity: vectorbt's ``SizeType.Percent`` is a percent of the free *cash*, so it is
  given our sizes in units, and the test checks them against vectorbt's own state: each buy's
  size must be the percent of the equity vectorbt itself holds at that fill (its cash and
  assets after the row before, the bar's earlier orders, marked at the open), and each entry
  we skipped for capital against its cash: the size our rule wanted did not fit.
- Fixed fees stay below any exit's proceeds: vectorbt refuses a sell whose fees exceed them;
  we always let a position close.
- Long only, no stops (vectorbt prices a stop hit from the bar's OHLC its own way).
"""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from backtests.engine.portfolio import PortfolioRules, run_portfolio
from backtests.engine.simulate import Signals
from backtests.strategies.parse import build_strategy
from marketdata.providers.synthetic import SyntheticProvider

vbt = pytest.importorskip("vectorbt")

COMMISSION_PCT = 0.05
SLIPPAGE_PCT = 0.02
FIXED_FEE = 0.01  # below any exit's proceeds: vectorbt refuses a sell whose fees exceed them


def _random_signals(index: pd.DatetimeIndex, seed: int, rate: float) -> Signals:
    rng = np.random.default_rng(seed)
    n = len(index)
    entry = rng.random(n) < rate
    exit_ = rng.random(n) < rate
    entry &= ~exit_  # a bar with both: we exit, vectorbt ignores both
    entry[-2:] = exit_[-2:] = False
    none = np.zeros(n, dtype=np.bool_)
    return Signals(entry, none, exit_, none)


def _spec(sizing: dict, capital: float):
    return build_strategy(
        {
            "marketContext": {"market": "EURUSD", "timeframe": "1h"},
            "decisionBlocks": [{"subConfirmations": [{"moduleId": "rsi", "config": {"operator": "<", "value": 30}}]}],
            "costs": {
                "commissionPct": COMMISSION_PCT,
                "commissionFixed": FIXED_FEE,
                "slippage": SLIPPAGE_PCT,
                "slippageUnit": "percent",
            },
            "sizing": sizing,
            "initialCapital": capital,
        }
    )


def _vectorbt(datas: dict, signals: dict, sizes: pd.DataFrame | float, capital: float):
    """vectorbt on the union clock, orders at the open of the bar after the signal."""
    markets = list(datas)
    union = pd.DatetimeIndex(sorted(set().union(*[d.index for d in datas.values()])))
    shape = (len(union), len(markets))
    price = np.full(shape, np.nan)
    close = pd.concat([d.close for d in datas.values()], axis=1, keys=markets).reindex(union).ffill()
    entries = np.zeros(shape, dtype=np.bool_)
    exits = np.zeros(shape, dtype=np.bool_)
    for j, m in enumerate(markets):
        rows = union.get_indexer(datas[m].index)
        price[rows, j] = datas[m].open.to_numpy()
        entries[rows[1:], j] = signals[m].long_entry[:-1]
        exits[rows[1:], j] = signals[m].long_exit[:-1]
        exits[rows[-1], j] = True
        price[rows[-1], j] = datas[m].close.iloc[-1]  # end of data: out at the last close
    call_seq = np.empty(shape, dtype=np.int64)
    for i in range(len(union)):  # exits first, then entries, each in the markets' order
        call_seq[i] = np.argsort(~exits[i], kind="stable")
    pf = vbt.Portfolio.from_signals(
        close=close,
        entries=pd.DataFrame(entries, index=union, columns=markets),
        exits=pd.DataFrame(exits, index=union, columns=markets),
        price=pd.DataFrame(price, index=union, columns=markets),
        size=sizes,
        size_type="amount",
        direction="longonly",
        fees=COMMISSION_PCT / 100,
        fixed_fees=FIXED_FEE,
        slippage=SLIPPAGE_PCT / 100,
        init_cash=capital,
        group_by=True,
        cash_sharing=True,
        call_seq=call_seq,
        allow_partial=False,
        accumulate=False,
        freq="1h",
    )
    return pf, union, price, entries, call_seq


def _compare(ours, pf, union, markets):
    trades = pf.trades.records_readable
    theirs = pd.DataFrame(
        {
            "market": trades["Column"].to_numpy(),
            "entry_time": pd.DatetimeIndex(trades["Entry Timestamp"]),
            "exit_time": pd.DatetimeIndex(trades["Exit Timestamp"]),
            "entry_price": trades["Avg Entry Price"].to_numpy(),
            "exit_price": trades["Avg Exit Price"].to_numpy(),
            "size": trades["Size"].to_numpy(),
            "pnl": trades["PnL"].to_numpy(),
        }
    )
    theirs["_m"] = theirs.market.map({m: i for i, m in enumerate(markets)})
    theirs = theirs.sort_values(["entry_time", "_m"], kind="stable").drop(columns="_m").reset_index(drop=True)
    mine = ours.trades[list(theirs.columns)].reset_index(drop=True)
    assert len(mine) == len(theirs) > 10
    assert (mine.market.to_numpy() == theirs.market.to_numpy()).all()
    assert (mine.entry_time.to_numpy() == theirs.entry_time.to_numpy()).all()
    assert (mine.exit_time.to_numpy() == theirs.exit_time.to_numpy()).all()
    for column in ("entry_price", "exit_price", "size", "pnl"):
        np.testing.assert_allclose(mine[column].to_numpy(), theirs[column].to_numpy(), rtol=1e-9, atol=1e-9)
    value = pf.value().to_numpy()
    assert ours.equity.iloc[-1] == pytest.approx(value[-1], rel=1e-9)
    np.testing.assert_allclose(ours.equity.to_numpy(), value, rtol=1e-9)


def _datas(markets, start, end):
    provider = SyntheticProvider()
    return {m: provider.download(m, "1h", start, end) for m in markets}


JAN = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
BASKETS = {  # markets, capital for one unit of each per position
    "fx_and_metals": (("EURUSD", "GBPUSD", "XAUUSD"), 100_000.0),
    "mixed_calendar": (("EURUSD", "BTCUSD", "XAUUSD"), 1_000_000.0),
    # one unit of each is worth about 35,500: the capital takes two at most, entries skip
    "starved_indices": (("SPX500", "GER40", "NAS100"), 25_000.0),
}


@pytest.mark.parametrize("basket", sorted(BASKETS))
def test_fixed_units_agree_with_vectorbt(basket):
    markets, capital = BASKETS[basket]
    datas = _datas(markets, *JAN)
    signals = {m: _random_signals(d.index, seed=i + 7, rate=0.04) for i, (m, d) in enumerate(datas.items())}
    spec = _spec({"moduleId": "fixed_units", "config": {"units": 1.0}}, capital)
    ours = run_portfolio(datas, spec, PortfolioRules(), signals=signals)
    pf, union, *_ = _vectorbt(datas, signals, 1.0, capital)
    _compare(ours, pf, union, list(markets))
    if basket == "starved_indices":
        assert ours.metrics["skipped_for_capital"] > 0
    else:
        assert ours.metrics["skipped_for_capital"] == 0
    if basket == "mixed_calendar":  # crypto's weekend bars are on the clock, FX's are not
        assert len(union) > len(datas["EURUSD"]) and len(union) == len(datas["BTCUSD"])


@pytest.mark.parametrize(("percent", "capital"), [(30.0, 10_000.0), (150.0, 10_000.0)])
def test_percent_of_equity_agrees_with_vectorbt(percent, capital):
    """A third of the equity per market, sized at ``percent`` of it: at 150 % three positions
    would need 150 % of the equity in cash, so entries skip."""
    markets = ("EURUSD", "GBPUSD", "XAUUSD")
    datas = _datas(markets, *JAN)
    signals = {m: _random_signals(d.index, seed=i + 21, rate=0.05) for i, (m, d) in enumerate(datas.items())}
    spec = _spec({"moduleId": "percent_of_equity", "config": {"percent": percent}}, capital)
    rules = PortfolioRules(allocation="weights", weights=dict.fromkeys(markets, 1.0 / 3.0))
    ours = run_portfolio(datas, spec, rules, signals=signals)
    # vectorbt trades our sizes in units (an entry we skipped gets a size no cash covers);
    # then every size, and every skip, is checked against vectorbt's own cash and equity
    union = ours.equity.index
    sizes = np.full((len(union), len(markets)), 1e12)
    for t in ours.trades.itertuples():
        sizes[union.get_loc(t.entry_time), markets.index(t.market)] = t.size
    pf, union, price, entries, call_seq = _vectorbt(datas, signals, sizes, capital)
    _compare(ours, pf, union, list(markets))
    skips = _check_sizes_against_vectorbt_state(pf, price, entries, call_seq, percent / 100.0 / 3.0)
    assert skips == ours.metrics["skipped_for_capital"]
    assert (skips > 0) == (percent > 100)


def _check_sizes_against_vectorbt_state(pf, price, signal, call_seq, fraction) -> int:
    """Each buy's size is ``fraction`` of the equity vectorbt holds at its fill (its cash and
    assets after the row before and the row's earlier orders, marked at the open); each entry
    signal vectorbt did not fill while flat needed more cash than it had. Returns the skips."""
    cash = pf.cash().to_numpy()
    assets = pf.assets().to_numpy()
    close = pf.close.to_numpy()
    orders = pf.orders.values  # structured: idx, col, size, price, fees, side
    slip, fee = SLIPPAGE_PCT / 100, COMMISSION_PCT / 100
    checked = skips = 0
    for row in range(1, len(cash)):
        here = {int(o["col"]): o for o in orders[orders["idx"] == row]}
        if not here and not signal[row].any():
            continue
        mark = np.where(np.isnan(price[row]), close[row - 1], price[row])
        held = assets[row - 1].copy()
        money = cash[row - 1]
        for col in call_seq[row]:
            order = here.get(col)
            raw = price[row, col]
            if order is not None and order["side"] == 1:  # sell: the exit fills first
                money += order["size"] * raw * (1 - slip) - order["fees"]
                held[col] = 0.0
                continue
            if not signal[row, col] or held[col] > 0:
                continue
            equity = money + np.sum(held * mark)
            wanted = fraction * equity / (raw * (1 + slip))
            if order is not None:
                assert order["size"] == pytest.approx(wanted, rel=1e-9)
                money -= order["size"] * raw * (1 + slip) + order["fees"]
                held[col] = order["size"]
                checked += 1
            else:
                assert wanted * raw * (1 + slip) * (1 + fee) + FIXED_FEE > money
                skips += 1
    assert checked > 10
    return skips
