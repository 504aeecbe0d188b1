"""How long a cancelled run keeps its worker busy: cancel while the worker loads two years of 1m
synthetic bars (the slowest stage: generating them, then saving, reading back and two quality
reports), then time until the worker has stopped working on it.

The worker's service runs in this process (``backtest_execute`` in a thread) against a
throwaway PostgreSQL database, so the moment it returns is exact. The peer, measured in the
same run, is the worker as it was before cancel checks reached data loading: progress writes
and cancel checks only between stages (QM_CANCEL_CHECK_INTERVAL_MS and the progress interval
set to a minute). Each trial uses a window no earlier trial generated, so every load generates.

    python3 bench/cancel.py                   # 3 trials each
    python3 bench/cancel.py --portfolio-only  # the portfolio row: 3 markets of 8 months of 1m bars
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import BenchPlatform  # noqa: E402

SUFFIX = os.environ.get("QM_BENCH_SUFFIX", "")  # two engineers' runs on one machine: a database each
PLATFORM = BenchPlatform(
    f"cancel{SUFFIX}",
    db=f"qm_bench_cancel{SUFFIX}",
    redis_db=int(os.environ.get("QM_BENCH_REDIS_DB", "12")),
    port=8093,
)
CANCEL_AFTER = 0.6  # seconds into data loading (about when the bars are generated and being saved)


def window(trial: int) -> tuple[str, str, str]:
    markets = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "XAGUSD", "US30", "NAS100", "SPX500", "GER40"]
    return markets[trial % len(markets)], "2022-01-01T00:00:00Z", "2024-01-01T00:00:00Z"


def portfolio_window(trial: int) -> tuple[list[str], str, str]:
    """Three markets, 8 months of 1m bars each (about the single run's bar count), in 2021: no
    single-market trial generated them."""
    markets = ["EURUSD", "BTCUSD", "XAUUSD", "GBPUSD", "ETHUSD", "US30", "USDJPY", "SPX500", "XAGUSD"]
    return [markets[(3 * trial + k) % len(markets)] for k in range(3)], "2021-01-01T00:00:00Z", "2021-09-01T00:00:00Z"


def one(trial: int, user, portfolio: bool = False) -> dict:
    from django.db import connection

    from backtests import services
    from backtests.models import BacktestRun
    from backtests.tests.factories import v4_body

    market, start, end = window(trial)
    if portfolio:
        markets, start, end = portfolio_window(trial)
    body = v4_body(
        marketContext__market=market,
        marketContext__timeframe="1m",
        marketContext__startDate=start,
        marketContext__endDate=end,
        cache=False,
    )
    if portfolio:  # one account over the basket: each market's data is loaded in turn
        del body["marketContext"]["market"]
        body["marketContext"]["markets"] = markets
    run = services.backtest_submit(user=user, body=body)
    done = {}

    def work():
        started = time.monotonic()
        done["status"] = services.backtest_execute(run_id=run.id, task_id="bench")
        done["at"] = time.monotonic()
        done["worked"] = done["at"] - started
        connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    while BacktestRun.objects.filter(id=run.id, status="RUNNING").count() == 0:
        time.sleep(0.01)
    time.sleep(CANCEL_AFTER)
    stage = BacktestRun.objects.get(id=run.id).stage
    cancelled_at = time.monotonic()
    services.backtest_cancel(run=BacktestRun.objects.get(id=run.id))
    thread.join()
    return {"stage": stage, "stop": done["at"] - cancelled_at, "status": done["status"]}


def trials(n: int, offset: int, user, portfolio: bool = False) -> list[dict]:
    return [one(offset + i, user, portfolio) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--portfolio-only", action="store_true", help="only the portfolio row (issue 15)")
    args = parser.parse_args()
    PLATFORM.setup_database()
    os.environ.update(PLATFORM.env(QM_RENDER_PDF="0"))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="demo")
    rows = []
    now = settings.QM_PROGRESS_MIN_INTERVAL
    variants = [
        ("cancel checks every 250 ms (now)", 0.25, now, False),
        ("checks only between stages (before)", 60.0, 60.0, False),
        ("portfolio of 3 markets, checks every 250 ms (now)", 0.25, now, True),
    ]
    try:
        for label, check, progress, portfolio in variants[2:] if args.portfolio_only else variants:
            settings.QM_CANCEL_CHECK_INTERVAL, settings.QM_PROGRESS_MIN_INTERVAL = check, progress
            offset = 0 if check < 1 else args.trials
            results = trials(args.trials, offset, user, portfolio)
            stops = [r["stop"] for r in results]
            rows.append(
                (label, results[0]["stage"], statistics.median(stops), max(stops), {r["status"] for r in results})
            )
    finally:
        from django.db import connections

        connections.close_all()
        PLATFORM.drop_database()
    what = "3 markets x 8 months" if args.portfolio_only else "2 years"
    print(
        f"\nCancel while the worker loads {what} of 1m synthetic bars ({args.trials} trials each, cancel "
        f"{CANCEL_AFTER:.1f} s into the run)\n"
    )
    print("| worker | stage at cancel | cancel → worker free (median) | worst | run left as |")
    print("|---|---|---|---|---|")
    for label, stage, median, worst, statuses in rows:
        print(f"| {label} | {stage} | {median * 1000:.0f} ms | {worst * 1000:.0f} ms | {', '.join(sorted(statuses))} |")
    if not args.portfolio_only:
        print(f"\nPeer ratio: {rows[1][2] / rows[0][2]:.1f}× longer before.")


if __name__ == "__main__":
    main()
