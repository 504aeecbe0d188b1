"""Market data read benchmark: one year of one-minute FX bars (~372,000 rows).

    python3 bench/data.py                 # markdown table on stdout
    python3 bench/data.py --repeat 15 --markdown bench/results/data.md

The same synthetic EURUSD 1m year (2024) is written once as the platform stores it (zstd
Parquet partitioned by year/month, ``marketdata.storage.LocalStorage``) and once as a plain
CSV, then read in the same run:

* **CSV (pandas)**: ``pandas.read_csv`` of the whole file with the timestamp parsed into a
  UTC DatetimeIndex (what a script without a data layer does), all columns and ``usecols``.
* **Parquet cold**: ``DataManager.get_data`` with an empty L1 (a new manager each time), so
  metadata.json, the twelve month files and the frame are all built from storage. "Cold"
  means not in L1: the operating system's page cache is warm (the files were just written),
  as on a worker that has read them before; a first read from disk adds the device's time.
* **L1 warm**: the same call answered from the in-process LRU (a slice of the cached frame).

Each row is the median of ``--repeat`` timed runs after one untimed run, with the GC paused.
Targets (issue 6): cold column-pruned read under 50 ms, warm hit under 1 ms; the ratio is
CSV time / our time (how many times faster than CSV).
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from marketdata.manager import DataManager  # noqa: E402
from marketdata.providers.synthetic import SyntheticProvider  # noqa: E402
from marketdata.storage import LocalStorage  # noqa: E402

START, END = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2025-01-01", tz="UTC")
SYMBOL, TIMEFRAME = "EURUSD", "1m"


def timed(fn, repeat: int) -> tuple[float, object]:
    result = fn()  # warm-up (imports, allocator)
    samples = []
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = fn()
            samples.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return statistics.median(samples) * 1000, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="qm-bench-data-") as tmp:
        tmp = Path(tmp)
        frame = SyntheticProvider().download(SYMBOL, TIMEFRAME, START, END)
        storage = LocalStorage(tmp / "market_cache")
        storage.save_data(
            f"{SYMBOL}@synthetic", TIMEFRAME, frame, covered_start=START, covered_end=END, source="synthetic"
        )
        csv_path = tmp / "eurusd_1m_2024.csv"
        frame.rename_axis("timestamp").to_csv(csv_path)
        csv_bytes = csv_path.stat().st_size
        parquet_bytes = sum(p.stat().st_size for p in (tmp / "market_cache").rglob("*.parquet"))
        rows = len(frame)

        def read_csv(columns=None):
            def run():
                usecols = ["timestamp", *columns] if columns else None
                df = pd.read_csv(csv_path, usecols=usecols, engine="c")
                df.index = pd.DatetimeIndex(pd.to_datetime(df.pop("timestamp"), utc=True, format="ISO8601"))
                return df

            return run

        def cold(columns=None):
            def run():
                manager = DataManager(storage, {"synthetic": SyntheticProvider()})
                return manager.get_data(SYMBOL, TIMEFRAME, START, END, "synthetic", columns=columns).frame

            return run

        warm_manager = DataManager(storage, {"synthetic": SyntheticProvider()}, l1_revalidate_seconds=3600)
        warm_manager.get_data(SYMBOL, TIMEFRAME, START, END, "synthetic")

        def warm(columns=None):
            return lambda: warm_manager.get_data(SYMBOL, TIMEFRAME, START, END, "synthetic", columns=columns).frame

        cases = [("all 5", None), ("close only", ["close"])]
        results = {}
        for label, cols in cases:
            results[("csv", label)] = timed(read_csv(cols), max(3, args.repeat // 3))
            results[("cold", label)] = timed(cold(cols), args.repeat)
            results[("warm", label)] = timed(warm(cols), args.repeat * 10)
            for kind in ("cold", "warm"):
                got = results[(kind, label)][1]
                assert len(got) == rows and list(got.columns) == (cols or ["open", "high", "low", "close", "volume"])
        assert (results[("cold", "close only")][1]["close"].to_numpy() == frame["close"].to_numpy()).all()

    lines = [
        f"One year of {SYMBOL} {TIMEFRAME} bars: {rows:,} rows; Parquet {parquet_bytes / 1e6:.1f} MB in 12 month "
        f"files, CSV {csv_bytes / 1e6:.1f} MB. Median of {args.repeat} runs "
        f"(L1: {args.repeat * 10}); Python {platform.python_version()}, pandas {pd.__version__}, "
        f"pyarrow {__import__('pyarrow').__version__}, {platform.machine()}.",
        "",
        "| read | columns | ms | vs CSV |",
        "|---|---|---:|---:|",
    ]
    names = {"csv": "CSV, pandas read_csv", "cold": "Parquet cold (L1 empty)", "warm": "L1 warm"}
    for kind in ("csv", "cold", "warm"):
        for label, _ in cases:
            ms = results[(kind, label)][0]
            ratio = results[("csv", label)][0] / ms
            lines.append(
                f"| {names[kind]} | {label} | {ms:.3f} | {ratio:,.0f}x faster |"
                if kind != "csv"
                else f"| {names[kind]} | {label} | {ms:.1f} | 1x |"
            )
    cold_pruned = results[("cold", "close only")][0]
    warm_all = max(results[("warm", label)][0] for label, _ in cases)
    lines += [
        "",
        f"Targets: cold column-pruned read {cold_pruned:.1f} ms (< 50 ms: "
        f"{'met' if cold_pruned < 50 else 'MISSED'}); warm L1 hit {warm_all:.3f} ms (< 1 ms: "
        f"{'met' if warm_all < 1 else 'MISSED'}); cold column-pruned is "
        f"{results[('csv', 'close only')][0] / cold_pruned:,.0f}x faster than pandas read_csv of the same "
        "column.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(text + "\n")
    return 0 if cold_pruned < 50 and warm_all < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
