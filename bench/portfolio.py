"""Portfolio benchmark: one strategy over a basket with one account, against vectorbt's
cash-sharing portfolio on the same signals.

    python3 bench/portfolio.py                 # 20 markets x 1 year of 15m bars, table on stdout
    python3 bench/portfolio.py --markets 5 --days 90 --no-memory

The basket: the synthetic source's markets (FX and metals 24/5, crypto 24/7, indices), then
made-up symbols priced near 100 to reach ``--markets``; ``--days`` of 15-minute bars ending
2024-12-31. The strategy uses three modules: long when RSI(14) < 40 and close > EMA(100),
exit when ROC(20) < 0; ``maxOpenPositions`` 5, equal budgets, fixed units (so vectorbt can
trade the same sizes), no costs.

What is timed (warm: best of ``--repeat`` after one warm-up run, in this process):

* **QuantMetrics, whole run**: ``run_portfolio`` from the loaded frames: each market's modules,
  signals and inputs, the compiled portfolio loop on the union clock, the trade list, every
  metric, the report's portfolio section (contribution, correlation, exposure).
* **QuantMetrics, given signals**: the same with the signals handed in (no modules), without an
  exit signal on an entry's bar (see ``comparable``), so vectorbt takes the same trades.
* **vectorbt** (1.2 here): ``Portfolio.from_signals(group_by=True, cash_sharing=True)`` on the
  same signals moved to the next bar, ``price=open``, the same units, exits before entries in
  each row (``call_seq``), then its equity (``pf.value()``) and trade count. The index is passed
  without its time zone (vectorbt with pandas 3 would otherwise spend its time converting it).
  Timed twice: on the markets aligned to the union clock beforehand (2-D arrays, outside the
  clock), and aligning them too, from the per-market frames and signals our run starts from.
  Its numbers are checked against ours (uncapped, same signals): trade count and final equity
  within 1e-9 relative; the table says whether they agree.
* **Peak memory** (``--memory-markets``, 50 by default): a fresh process loads that many
  markets and runs the whole portfolio once; its peak RSS (``ru_maxrss``), data included.

Targets (issue 15): under 1 s warm for 20 markets x 1 year of 15m (about 700,000
market-bars), at least as fast as vectorbt on the same signals; under 1 GB for 50 markets.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

END = datetime(2024, 12, 31, tzinfo=UTC)
REQUEST = {
    "marketContext": {"market": "X", "timeframe": "15m", "direction": "Long"},
    "decisionBlocks": [
        {
            "subConfirmations": [
                {"moduleId": "rsi", "config": {"period": 14, "operator": "<", "value": 40}},
                {"moduleId": "ema", "config": {"period": 100, "operator": "<", "value": {"column": "close"}}},
            ]
        }
    ],
    "exitBlocks": [{"subConfirmations": [{"moduleId": "roc", "config": {"period": 20, "operator": "<", "value": 0}}]}],
    "sizing": {"moduleId": "fixed_units", "config": {"units": 1}},
    "initialCapital": 1_000_000,
}
MAX_OPEN = 5


def basket(count: int, days: int) -> dict[str, pd.DataFrame]:
    from marketdata.providers.synthetic import BASE_PRICES, SyntheticProvider

    provider = SyntheticProvider()
    symbols = list(BASE_PRICES) + [f"SYN{i:02d}" for i in range(max(0, count - len(BASE_PRICES)))]
    start = END - timedelta(days=days)
    return {s: provider.download(s, "15m", start, END) for s in symbols[:count]}


def comparable(signals):
    """The signals without an exit on an entry's bar. Flat with both on one close, we enter and
    the next exit closes; vectorbt ignores both (docs/engine.md, "Agreement with vectorbt"):
    without such bars both take the same trades."""
    from backtests.engine.simulate import Signals

    return Signals(
        signals.long_entry,
        signals.short_entry,
        signals.long_exit & ~signals.long_entry,
        signals.short_exit & ~signals.short_entry,
    )


def best_of(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm-up: Numba's cache, pandas' first calls
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def vectorbt_inputs(datas, signals) -> dict:
    """The markets on the union clock, as vectorbt takes them: 2-D open (fill price), close
    (carried forward), entries and exits moved to the fill row, and exits-first ``call_seq``."""
    markets = list(datas)
    times = [d.index.as_unit("ns").asi8 for d in datas.values()]
    union = np.unique(np.concatenate(times))
    shape = (len(union), len(markets))
    price = np.full(shape, np.nan)
    entries = np.zeros(shape, dtype=np.bool_)
    exits = np.zeros(shape, dtype=np.bool_)
    close = np.full(shape, np.nan)
    for j, m in enumerate(markets):
        rows = np.searchsorted(union, times[j])
        price[rows, j] = datas[m].open.to_numpy()
        close[rows, j] = datas[m].close.to_numpy()
        entries[rows[1:], j] = signals[m].long_entry[:-1]
        exits[rows[1:], j] = signals[m].long_exit[:-1]
        exits[rows[-1], j] = True
        price[rows[-1], j] = datas[m].close.iloc[-1]
    known = np.where(np.isnan(close), 0, np.arange(len(union))[:, None])
    np.maximum.accumulate(known, axis=0, out=known)
    return {
        "close": pd.DataFrame(close[known, np.arange(len(markets))], index=pd.DatetimeIndex(union), columns=markets),
        "entries": entries,
        "exits": exits,
        "price": price,
        "call_seq": np.argsort(~exits, axis=1, kind="stable"),
    }


def run_vectorbt(datas, signals, units: float, capital: float):
    """Two timings' functions: vectorbt on inputs aligned beforehand, and aligning them too
    (from the same per-market frames and signals our run starts from)."""
    import vectorbt as vbt

    def simulate(inputs):
        pf = vbt.Portfolio.from_signals(
            **inputs,
            size=units,
            size_type="amount",
            direction="longonly",
            init_cash=capital,
            group_by=True,
            cash_sharing=True,
            allow_partial=False,
            freq="15min",
        )
        return float(pf.value().iloc[-1]), int(pf.trades.count())

    aligned = vectorbt_inputs(datas, signals)
    return (lambda: simulate(aligned)), (lambda: simulate(vectorbt_inputs(datas, signals)))


def memory_child(markets: int, days: int) -> None:
    from backtests.engine.portfolio import PortfolioRules, run_portfolio
    from backtests.strategies.parse import build_strategy

    datas = basket(markets, days)
    result = run_portfolio(datas, build_strategy(REQUEST), PortfolioRules(max_open_positions=MAX_OPEN))
    bars = sum(len(d) for d in datas.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"markets": markets, "bars": bars, "trades": len(result.trades), "peak_mb": peak}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-markets", type=int, default=50)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-vectorbt", action="store_true")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.memory_child:
        memory_child(args.markets, args.days)
        return 0

    from backtests.engine.portfolio import PortfolioRules, run_portfolio
    from backtests.engine.run import market_signals
    from backtests.strategies.parse import build_strategy

    spec = build_strategy(REQUEST)
    rules = PortfolioRules(max_open_positions=MAX_OPEN)
    datas = basket(args.markets, args.days)
    bars = sum(len(d) for d in datas.values())
    signals = {m: comparable(market_signals(d, spec)) for m, d in datas.items()}
    rows = []
    whole, result = best_of(lambda: run_portfolio(datas, spec, rules), args.repeat)
    given, given_result = best_of(lambda: run_portfolio(datas, spec, rules, signals=signals), args.repeat)
    rows.append(("QuantMetrics, whole run (3 modules)", whole, len(result.trades), float(result.equity.iloc[-1])))
    rows.append(("QuantMetrics, given signals", given, len(given_result.trades), float(given_result.equity.iloc[-1])))
    vbt_time = agree = None
    if not args.no_vectorbt:
        # vectorbt takes every signal, without a cap on open positions: compare on uncapped rules
        free_time, free = best_of(lambda: run_portfolio(datas, spec, PortfolioRules(), signals=signals), args.repeat)
        simulate, align_and_simulate = run_vectorbt(datas, signals, 1.0, REQUEST["initialCapital"])
        vbt_time, (vbt_final, vbt_trades) = best_of(simulate, args.repeat)
        vbt_aligning, _ = best_of(align_and_simulate, args.repeat)
        free_final = float(free.equity.iloc[-1])
        rows.append(("QuantMetrics, given signals, no cap", free_time, len(free.trades), free_final))
        rows.append(("vectorbt from_signals, cash sharing, no cap", vbt_time, vbt_trades, vbt_final))
        rows.append(("vectorbt, aligning the markets too, no cap", vbt_aligning, vbt_trades, vbt_final))
        agree = vbt_trades == len(free.trades) and abs(vbt_final - free_final) <= 1e-9 * abs(free_final)
    print(f"{args.markets} markets, {args.days} days of 15m bars: {bars:,} market-bars")
    print(f"{'what':48} {'seconds':>9} {'trades':>8} {'final equity':>16}")
    for name, seconds, trades, final in rows:
        print(f"{name:48} {seconds:9.3f} {trades:8d} {final:16.4f}")
    if vbt_time:
        print(f"vectorbt / ours (given signals, no cap): {vbt_time / rows[2][1]:.2f}x")
        print(f"vectorbt aligning too / ours (given signals, no cap): {vbt_aligning / rows[2][1]:.2f}x")
        print(f"same trades and final equity (1e-9 relative) as vectorbt: {'yes' if agree else 'NO'}")
    if not args.no_memory:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-child",
                "--markets",
                str(args.memory_markets),
                "--days",
                str(args.days),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        memory = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"peak memory, {memory['markets']} markets ({memory['bars']:,} market-bars, whole run in a fresh "
            f"process): {memory['peak_mb']:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
