"""Engine benchmark: a whole backtest on 1,000,000 one-minute bars, against vectorbt and backtesting.py.

    python3 bench/engine.py                          # table on stdout
    python3 bench/engine.py --markdown bench/results/engine.md
    python3 bench/engine.py --no-vectorbt --no-backtesting   # ours only

The strategy (issue 5): long when RSI(14) < 30 and close > EMA(200), a 1 % stop and a 2 % target,
each entry worth the whole equity, one position at a time, no costs, on synthetic XAUUSD
1-minute bars (``SyntheticProvider``, 2020-01-01 on, the first ``--bars`` bars).

What is timed, from loaded data (a DataFrame in memory) to a trade list and the metrics:

* **QuantMetrics**: ``build_strategy`` + ``run_backtest`` (modules through the registry,
  conditions, the compiled simulation, the trade DataFrame, every metric in docs/metrics.md,
  the data checksum). Warm: best of ``--repeat`` after one warm-up run. The warm runs find the
  checksum and the check of these bars remembered from the warm-up, as a worker's runs on a series
  it has seen do; the fresh process hashes and checks them (``--rehash`` forgets both before each
  warm run).
* **QuantMetrics, fresh process**: a new ``python3`` process imports the engine, loads the
  bars from a ``.npz`` file and runs once, with no warm-up: what a freshly started worker's
  first task pays (Numba loads its on-disk cache; nothing is compiled). Reported: the run
  itself, and the whole process (interpreter start, imports, data load, run). Peak memory
  is that process's peak RSS (``ru_maxrss``), data and imports included.
* **vectorbt** (``pip install vectorbt``; 1.2 here): TA-Lib RSI/EMA on the same arrays,
  ``Portfolio.from_signals`` (entries shifted one bar and filled at the open, ``sl_stop`` /
  ``tp_stop`` from the fill price -- ``stop_entry_price="fillprice"``; its default is the entry
  bar's close -- OHLC given for stop checks) and ``pf.stats()`` (not ``records_readable``, which costs
  vectorbt seconds more per million bars with pandas 3). With the
  same rules it gives the same trades and final equity as ours, which the table checks. Warm: best of
  ``--repeat`` after its JIT warm-up. The index is passed without its time zone: with pandas 3
  vectorbt turns a tz-aware index into an object array of Timestamps on every shape check
  (about 25 s per run on 1M bars), which would measure that incompatibility, not vectorbt.
  Also run in a fresh process (its Numba JIT is not cached).
* **backtesting.py** (0.6): the same rules as a ``Strategy`` (``trade_on_close=False``,
  ``exclusive_orders=True``; it sizes in whole units and places the stop from the signal
  close), on the first ``--bt-bars`` bars, its time scaled linearly to ``--bars``.

* **QuantMetrics with the account** (issue 13): the same signals trading the XAUUSD instrument
  of the table (0.01 tick, 0.01-lot steps of 100 oz, the instrument's spread, swap every night)
  at 1,000 % of equity under a 5:1 leverage cap, with the 2 % target and no stop, so sizes are
  capped and rounded (the shrunken account's under the minimum lot skipped), positions financed
  and the losers liquidated at the maintenance margin. The row counts each.
* **QuantMetrics with the bar magnifier** (issue 13): the same run with ``exit.intrabar``, the
  finer bars being four 15-second bars per minute drawn from each minute's OHLC (open, then the
  extreme nearer the open, the other extreme, the close), 4M finer bars in all; their
  arrangement for the kernel is timed with the run, and their check as the bars' is (remembered
  from the warm-up, ``--rehash`` forgets it); building them is not: a loader's work.

* **The floor** (issue 19): a hand-written Numba loop (``floor_loop`` below: plain ``@njit``, one
  position, the same fill rules -- a signal on bar t fills at bar t + 1's open, the stop and the
  target from the fill, a gap beyond a level fills at the open, the stop first when the bar holds
  both, end of data at the last close -- writing the trades and the equity per bar) over the same
  precomputed signals; and the same loop with the signals made from the data by TA-Lib's RSI and
  EMA (a hand-written backtest from the same DataFrame, no metrics). Both must give our trades and
  final equity (checked).
* **Where our time goes**: the plain run's own progress calls (``on_progress``) timestamped:
  modules, conditions and inputs, the kernel (with its input arrays), the trade list, the metrics
  and the account figures, and the wait for the data checksum (its thread hashes while the rest
  runs). Best of each phase over the warm runs.

Our three warm runs (plain, account, magnifier) and the two floors are timed in turns, one of each
per round, so the machine's load changing during the benchmark touches them alike and their ratios
hold.

Targets (issue 5): at least 2x faster than warm vectorbt; under 1 s in a fresh process;
at least 50x faster than backtesting.py; peak memory under 1 GB. Issue 13: the magnifier under
1.5x the plain run. Issue 19: the plain run under 0.03 s warm and within 1.5x of the floor.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

_PROCESS_START = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):  # before bench/ itself, whose modules.py would shadow the package
    sys.path.insert(0, str(ROOT))

REQUEST = {
    "marketContext": {"direction": "Long"},
    "decisionBlocks": [
        {
            "subConfirmations": [
                {"moduleId": "rsi", "config": {"period": 14, "operator": "<", "value": 30}},
                {"moduleId": "ema", "config": {"period": 200, "operator": "<", "value": {"column": "close"}}},
            ]
        }
    ],
    "exit": {"stopLoss": 1, "takeProfit": 2},
    "sizing": {"moduleId": "percent_of_equity", "config": {"percent": 100}},
}
SL, TP = 0.01, 0.02
TARGET_VS_VECTORBT = 2.0
TARGET_VS_BACKTESTING = 50.0
TARGET_FRESH_S = 1.0
TARGET_MEMORY_MB = 1024.0
TARGET_MAGNIFIER = 1.5
TARGET_WARM_S = 0.03
TARGET_VS_FLOOR = 1.5
CAPITAL = 10_000.0  # the engine's default initial capital (strategy.DEFAULT_CAPITAL)
ACCOUNT_REQUEST = {
    **REQUEST,
    "costs": {"fromInstrument": True},
    "account": {"leverage": 5},
    "exit": {"takeProfit": 2},  # no stop: the maintenance margin ends the losers
    "sizing": {"moduleId": "percent_of_equity", "config": {"percent": 1000}},
}


# ---- data ----------------------------------------------------------------------------------------


def load_bars(count: int):
    """The first ``count`` bars, as the data manager hands them to a run (``normalise``: a UTC index
    in nanoseconds, float64 OHLCV)."""
    import pandas as pd

    from marketdata.manager import normalise
    from marketdata.providers.synthetic import SyntheticProvider

    start = pd.Timestamp("2020-01-01", tz="UTC")
    years = max(1.0, count / 370_000)  # ~376k one-minute bars a year, weekends closed
    while True:
        end = start + pd.Timedelta(days=int(365.25 * years) + 7)
        frame = SyntheticProvider().download("XAUUSD", "1m", start, end)
        if len(frame) >= count:
            return normalise(frame.iloc[:count])
        years *= 1.2


def save_npz(frame, path: Path) -> None:
    import numpy as np

    np.savez(
        path,
        index=frame.index.as_unit("ns").asi8,
        **{c: frame[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")},
    )


def read_npz(path: str):
    import numpy as np
    import pandas as pd

    with np.load(path) as f:
        index = pd.DatetimeIndex(f["index"].view("datetime64[ns]"), name="timestamp").tz_localize("UTC")
        return pd.DataFrame({c: f[c] for c in ("open", "high", "low", "close", "volume")}, index=index)


# ---- the three engines ---------------------------------------------------------------------------


REHASH = False  # --rehash: every warm run hashes and checks the bars


def forget_checksums() -> None:
    from backtests.engine import run as engine_run

    if REHASH:
        engine_run._SERIES.clear()
        engine_run._FINER.clear()


def run_ours(frame):
    from backtests.engine import run_backtest
    from backtests.strategies.parse import build_strategy

    forget_checksums()
    result = run_backtest(frame, build_strategy(REQUEST))
    return len(result.trades), result.metrics["final_equity"]


def run_vectorbt(frame):
    import numpy as np
    import pandas as pd
    import talib
    import vectorbt as vbt

    close = frame["close"].to_numpy()
    signal = (talib.RSI(close, 14) < 30) & (close > talib.EMA(close, 200))
    entries = pd.Series(np.concatenate(([False], signal[:-1])), index=frame.index)
    pf = vbt.Portfolio.from_signals(
        frame["close"],
        entries=entries,
        exits=False,
        open=frame["open"],
        high=frame["high"],
        low=frame["low"],
        price=frame["open"],
        sl_stop=SL,
        tp_stop=TP,
        init_cash=10_000,
        freq="1min",
        stop_entry_price="fillprice",
    )
    stats = pf.stats()
    return int(stats["Total Trades"]), float(stats["End Value"])


def run_backtesting(frame):
    import numpy as np
    import talib
    from backtesting import Backtest, Strategy

    class RsiEma(Strategy):
        def init(self):
            self.rsi = self.I(talib.RSI, np.asarray(self.data.Close, dtype=float), 14)
            self.ema = self.I(talib.EMA, np.asarray(self.data.Close, dtype=float), 200)

        def next(self):
            price = self.data.Close[-1]
            if not self.position and self.rsi[-1] < 30 and price > self.ema[-1]:
                self.buy(sl=price * (1 - SL), tp=price * (1 + TP))

    data = frame.rename(columns=str.title)[["Open", "High", "Low", "Close", "Volume"]]
    bt = Backtest(
        data, RsiEma, cash=1_000_000, commission=0, trade_on_close=False, exclusive_orders=True, finalize_trades=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    return int(stats["# Trades"]), float(stats["Return [%]"])


def run_ours_account(frame):
    from backtests.engine import run_backtest
    from backtests.strategies.parse import build_strategy
    from marketdata.instrument_table import shipped_table

    forget_checksums()
    result = run_backtest(frame, build_strategy(ACCOUNT_REQUEST, instrument=shipped_table()["XAUUSD"]))
    return len(result.trades), result.metrics["final_equity"], result.metrics


def finer_minutes(frame):
    """Four 15-second bars per 1-minute bar with the minute's OHLC: open, the extreme nearer the
    open, the other extreme, the close."""
    import numpy as np
    import pandas as pd

    o, h, lo, c = (frame[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
    low_first = (o - lo) < (h - o)
    first = np.where(low_first, lo, h)
    second = np.where(low_first, h, lo)
    path = np.stack([o, first, second, c], axis=1)  # the price at the end of each 15 s
    opens = np.concatenate([o[:, None], path[:, :3]], axis=1)
    index = (frame.index.as_unit("ns").asi8[:, None] + np.arange(4) * 15_000_000_000).ravel()
    return pd.DataFrame(
        {
            "open": opens.ravel(),
            "high": np.maximum(opens, path).ravel(),
            "low": np.minimum(opens, path).ravel(),
            "close": path.ravel(),
        },
        index=pd.DatetimeIndex(index.view("datetime64[ns]"), name="timestamp").tz_localize("UTC"),
    )


def run_ours_magnified(frame, finer):
    from dataclasses import replace

    from backtests.engine import run_backtest
    from backtests.strategies.parse import build_strategy

    spec = build_strategy(REQUEST)  # 15 s is no timeframe of the API: the magnifier is set on the spec
    spec = replace(spec, exit=replace(spec.exit, intrabar="15s"))
    forget_checksums()
    result = run_backtest(frame, spec, intrabar=finer)
    return len(result.trades), result.metrics["final_equity"], result.metrics


# ---- the floor: a hand-written loop --------------------------------------------------------------


def _floor_kernel():
    from numba import njit

    @njit(cache=True, nogil=True)
    def floor_loop(open_, high, low, close, entry, capital, stop_frac, target_frac, equity, trades):
        """One long position, all-in, no costs: a signal on bar t's close fills at bar t + 1's
        open; the stop and the target are set from the fill; a gap beyond a level fills at the
        open; a bar reaching both fills the stop; the last bar's close ends the data. Writes the
        equity at each close and (entry bar, exit bar, fill, exit, pnl) per trade; returns the
        number of trades."""
        n = close.shape[0]
        cash = capital
        size = 0.0
        fill = 0.0
        stop = 0.0
        target = 0.0
        entry_bar = -1
        pending = False
        n_trades = 0
        for t in range(n):
            o = open_[t]
            if pending:
                pending = False
                fill = o
                size = cash / o
                stop = o * (1.0 - stop_frac)
                target = o * (1.0 + target_frac)
                entry_bar = t
            if size > 0.0:
                exit_price = -1.0
                if o <= stop or o >= target:
                    exit_price = o
                elif low[t] <= stop:
                    exit_price = stop
                elif high[t] >= target:
                    exit_price = target
                elif t == n - 1:
                    exit_price = close[t]
                if exit_price > 0.0:
                    pnl = size * (exit_price - fill)
                    cash += pnl
                    trades[n_trades, 0] = entry_bar
                    trades[n_trades, 1] = t
                    trades[n_trades, 2] = fill
                    trades[n_trades, 3] = exit_price
                    trades[n_trades, 4] = pnl
                    n_trades += 1
                    size = 0.0
            equity[t] = cash + size * (close[t] - fill)
            if size == 0.0 and entry[t] and t < n - 1:
                pending = True
        return n_trades

    return floor_loop


def floor_signals(frame):
    """RSI(14) < 30 AND close > EMA(200) from TA-Lib: the strategy's entries, as a bool array."""
    import numpy as np
    import talib

    close = frame["close"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (talib.RSI(close, 14) < 30) & (close > talib.EMA(close, 200))


def floor_runners(frame):
    """(loop over the precomputed signals, the same loop with the signals made from ``frame``)."""
    import numpy as np

    loop = _floor_kernel()
    prices = [frame[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")]
    signals = floor_signals(frame)

    def run(entry):
        equity = np.empty(len(entry))
        trades = np.empty((max(int(entry.sum()), 1), 5))
        count = loop(*prices, entry, CAPITAL, SL, TP, equity, trades)
        return count, float(equity[-1])

    return (lambda f: run(signals)), (lambda f: run(floor_signals(f)))


PHASES = ("modules", "conditions and inputs", "kernel", "trade list, metrics, account", "checksum wait")


def run_ours_split(frame):
    """``run_ours`` with its progress calls timestamped: seconds per phase (``PHASES``)."""
    from backtests.engine import run_backtest
    from backtests.strategies.parse import build_strategy

    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage == "computing_modules":
            marks["modules"] = now
        elif stage == "simulating":
            marks["kernel start" if done == 0 else "kernel end"] = now
        elif stage == "analysing":
            marks["analysing end" if done else "analysing start"] = now

    forget_checksums()
    start = time.perf_counter()
    result = run_backtest(frame, build_strategy(REQUEST), progress)
    end = time.perf_counter()
    split = dict(
        zip(
            PHASES,
            (
                marks["modules"] - start,
                marks["kernel start"] - marks["modules"],
                marks["analysing start"] - marks["kernel start"],
                marks["analysing end"] - marks["analysing start"],
                end - marks["analysing end"],
            ),
            strict=True,
        )
    )
    return len(result.trades), result.metrics["final_equity"], split


RUNNERS = {"ours": run_ours, "vectorbt": run_vectorbt, "backtesting": run_backtesting}


def best_of(fn, frame, repeat: int) -> tuple[float, tuple]:
    [(seconds, out)] = best_of_interleaved([fn], frame, repeat)
    return seconds, out


def best_of_interleaved(fns, frame, repeat: int) -> list[tuple[float, tuple]]:
    """Best of ``repeat`` for each of ``fns``, taken in turns (one run of each per round), so a
    change in the machine's load touches all of them alike and their ratios hold."""
    outs = [fn(frame) for fn in fns]  # warm-up (JIT, caches, allocator)
    times: list[list[float]] = [[] for _ in fns]
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            for i, fn in enumerate(fns):
                start = time.perf_counter()
                outs[i] = fn(frame)
                times[i].append(time.perf_counter() - start)
    finally:
        gc.enable()
    return [(min(t), out) for t, out in zip(times, outs, strict=True)]


# ---- fresh process -------------------------------------------------------------------------------


def child(engine: str, data_path: str) -> None:
    """Runs in the fresh process: import, load, run once, report JSON on stdout."""
    t0 = time.perf_counter()
    if engine == "ours":
        import backtests.engine  # noqa: F401
    else:
        import talib  # noqa: F401
        import vectorbt  # noqa: F401
    t1 = time.perf_counter()
    frame = read_npz(data_path)
    if engine == "vectorbt":
        frame.index = frame.index.tz_localize(None)
    t2 = time.perf_counter()
    trades, final = RUNNERS[engine](frame)
    t3 = time.perf_counter()
    print(
        json.dumps(
            {
                "interpreter_s": t0 - _PROCESS_START,
                "import_s": t1 - t0,
                "load_s": t2 - t1,
                "run_s": t3 - t2,
                "trades": trades,
                "final_equity": final,
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def fresh(engine: str, data_path: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", engine, "--data", str(data_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"fresh {engine} process failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["wall_s"] = wall
    return report


# ---- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--bt-bars", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-vectorbt", action="store_true")
    parser.add_argument("--no-backtesting", action="store_true")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--rehash", action="store_true", help="forget the data checksum and check before each warm run")
    parser.add_argument("--child", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data)
        return 0
    global REHASH
    REHASH = args.rehash

    frame = load_bars(args.bars)
    n = len(frame)
    # name, bars, seconds for `n` bars, our time it is compared with (None for our own rows), trades, note
    rows: list[tuple[str, int, float, float | None, str, str]] = []
    checks: list[tuple[str, bool, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "bars.npz"
        save_npz(frame, data_path)

        # fresh process first, so its cache state is what a new worker sees
        ours_fresh = fresh("ours", data_path)
        # ours plain, with the account and with the magnifier in turns: their ratios are the targets
        finer = finer_minutes(frame)
        floor_given, floor_from_data = floor_runners(frame)
        splits: list[dict[str, float]] = []

        def ours_split(f):
            trades, final, split = run_ours_split(f)
            splits.append(split)
            return trades, final

        measured = best_of_interleaved(
            [
                run_ours,
                run_ours_account,
                lambda f: run_ours_magnified(f, finer),
                floor_given,
                floor_from_data,
                ours_split,
            ],
            frame,
            args.repeat,
        )
        ours_s, (ours_trades, ours_final) = measured[0]
        account_s, (acc_trades, acc_final, acc_metrics) = measured[1]
        magnified_s, (mag_trades, _, mag_metrics) = measured[2]
        floor_s, (floor_trades, floor_final) = measured[3]
        floor_data_s, _ = measured[4]
        split = {phase: min(s[phase] for s in splits) for phase in PHASES}
        rows.append(("QuantMetrics (warm)", n, ours_s, None, str(ours_trades), f"final equity {ours_final:,.2f}"))
        rows.append(
            (
                "floor: hand-written Numba loop over the same precomputed signals (warm)",
                n,
                floor_s,
                ours_s,
                str(floor_trades),
                f"final equity {floor_final:,.2f}; ours is {ours_s / floor_s:.1f}x it",
            )
        )
        rows.append(
            (
                "floor from the data: TA-Lib RSI and EMA, the signal, the same loop (warm)",
                n,
                floor_data_s,
                ours_s,
                str(floor_trades),
                f"ours is {ours_s / floor_data_s:.2f}x it",
            )
        )
        checks.append(
            (
                "the floor gives our trades and final equity (1e-9)",
                floor_trades == ours_trades and abs(floor_final / ours_final - 1) < 1e-9,
                f"{floor_trades} vs {ours_trades} trades, rel. diff {abs(floor_final / ours_final - 1):.1e}",
            )
        )
        checks.append((f"warm run <= {TARGET_WARM_S:g} s", ours_s <= TARGET_WARM_S, f"{ours_s:.4f} s"))
        checks.append(
            (
                f"within {TARGET_VS_FLOOR:g}x the floor from the data",
                ours_s / floor_data_s <= TARGET_VS_FLOOR,
                f"{ours_s / floor_data_s:.2f}x",
            )
        )
        checks.append(
            (
                f"within {TARGET_VS_FLOOR:g}x the loop over precomputed signals",
                ours_s / floor_s <= TARGET_VS_FLOOR,
                f"{ours_s / floor_s:.1f}x",
            )
        )
        rows.append(
            (
                "QuantMetrics, fresh process: first run",
                n,
                ours_fresh["run_s"],
                None,
                str(ours_fresh["trades"]),
                f"imports {ours_fresh['import_s']:.2f} s, data load {ours_fresh['load_s']:.2f} s",
            )
        )
        rows.append(
            (
                "QuantMetrics, fresh process: whole process",
                n,
                ours_fresh["wall_s"],
                None,
                "",
                f"peak RSS {ours_fresh['maxrss_mb']:.0f} MB",
            )
        )
        checks.append(
            (
                f"fresh-process run < {TARGET_FRESH_S:g} s",
                ours_fresh["run_s"] < TARGET_FRESH_S,
                f"{ours_fresh['run_s']:.3f} s",
            )
        )
        checks.append(
            (
                f"peak memory < {TARGET_MEMORY_MB:.0f} MB",
                ours_fresh["maxrss_mb"] < TARGET_MEMORY_MB,
                f"{ours_fresh['maxrss_mb']:.0f} MB",
            )
        )

        if not args.no_vectorbt:
            naive = frame.copy()
            naive.index = naive.index.tz_localize(None)
            vbt_s, (vbt_trades, vbt_final) = best_of(run_vectorbt, naive, args.repeat)
            rows.append(
                (
                    "vectorbt from_signals + stats (warm)",
                    n,
                    vbt_s,
                    ours_s,
                    str(vbt_trades),
                    f"final equity {vbt_final:,.2f}",
                )
            )
            checks.append(
                (
                    "same trade count and final equity as vectorbt (1e-9)",
                    vbt_trades == ours_trades and abs(vbt_final / ours_final - 1) < 1e-9,
                    f"{ours_trades} vs {vbt_trades} trades, rel. diff {abs(vbt_final / ours_final - 1):.1e}",
                )
            )
            vbt_fresh = fresh("vectorbt", data_path)
            rows.append(
                (
                    "vectorbt, fresh process: first run",
                    n,
                    vbt_fresh["run_s"],
                    ours_fresh["run_s"],
                    str(vbt_fresh["trades"]),
                    f"imports {vbt_fresh['import_s']:.2f} s (JIT not cached)",
                )
            )
            checks.append(
                (
                    f">= {TARGET_VS_VECTORBT:g}x faster than warm vectorbt",
                    vbt_s / ours_s >= TARGET_VS_VECTORBT,
                    f"{vbt_s / ours_s:.1f}x",
                )
            )

        versus_vbt = f"; {vbt_s / account_s:.1f}x faster than warm vectorbt" if not args.no_vectorbt else ""
        rows.append(
            (
                "QuantMetrics, XAUUSD instrument, 5:1 cap, financing, liquidation (warm)",
                n,
                account_s,
                None,
                str(acc_trades),
                f"{account_s / ours_s:.2f}x the plain run{versus_vbt}; {acc_metrics['capped_entries']} capped, "
                f"{acc_metrics['skipped_below_min_size']} under the minimum lot, "
                f"{acc_metrics['liquidations']} liquidated, financing {acc_metrics['total_financing']:,.2f}",
            )
        )
        versus_vbt = f"; {vbt_s / magnified_s:.1f}x faster than warm vectorbt" if not args.no_vectorbt else ""
        rows.append(
            (
                "QuantMetrics, bar magnifier on 4M finer bars (warm)",
                n,
                magnified_s,
                None,
                str(mag_trades),
                f"{magnified_s / ours_s:.2f}x the plain run{versus_vbt}; {mag_metrics['intrabar_resolved']} bars "
                f"settled by the finer bars, {mag_metrics['intrabar_unresolved']} by the policy",
            )
        )
        checks.append(
            (
                f"magnifier < {TARGET_MAGNIFIER:g}x the plain run",
                magnified_s / ours_s < TARGET_MAGNIFIER,
                f"{magnified_s / ours_s:.2f}x",
            )
        )

        if not args.no_backtesting:
            part = frame.iloc[: args.bt_bars]
            start = time.perf_counter()
            bt_trades, _ = run_backtesting(part)
            bt_s = (time.perf_counter() - start) * n / len(part)
            rows.append(
                (
                    f"backtesting.py ({len(part):,} bars, scaled)",
                    n,
                    bt_s,
                    ours_s,
                    f"{bt_trades} on {len(part):,}",
                    f"measured {bt_s * len(part) / n:.2f} s",
                )
            )
            checks.append(
                (
                    f">= {TARGET_VS_BACKTESTING:g}x faster than backtesting.py",
                    bt_s / ours_s >= TARGET_VS_BACKTESTING,
                    f"{bt_s / ours_s:.0f}x",
                )
            )

    lines = [
        f"Engine benchmark: {n:,} one-minute bars, RSI(14) < 30 AND close > EMA(200), stop 1 %, target 2 %, "
        f"all-in sizing.",
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs.",
        "",
        "| engine | time per 1M bars (s) | bars/s | ours is x faster | trades | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, bars, seconds, baseline, trades, note in rows:
        per_million = seconds * 1_000_000 / bars
        ratio = f"{seconds / baseline:.1f}" if baseline else "-"
        lines.append(f"| {name} | {per_million:.3f} | {bars / seconds:,.0f} | {ratio} | {trades} | {note} |")
    lines.append("")
    lines.append("Ratios: warm rows against our warm run, the fresh-process row against our fresh-process run.")
    lines += [
        "",
        "Where the plain warm run's time goes (best of each phase over the warm runs, from its progress calls):",
        "",
        "| phase | ms | share |",
        "|---|---:|---:|",
    ]
    total = sum(split.values())
    lines += [f"| {phase} | {split[phase] * 1e3:.2f} | {split[phase] / total:.0%} |" for phase in PHASES]
    lines.append(f"| sum | {total * 1e3:.2f} | |")
    load = os.getloadavg()
    lines.append("")
    lines.append(f"Load average at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} ({os.cpu_count()} CPUs).")
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else 'NO'} | {measured} |" for name, ok, measured in checks]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
