"""Stored runs for report and page tests, without the engine: trades placed on real synthetic
prices (so the price charts have something to mark), an equity curve from their P&L, a metrics
dict with the engine's keys, and what the worker stores from the prices (report data, quality)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from backtests.engine import benchmark as B
from backtests.tests.factories import v4_body
from marketdata.providers.synthetic import SyntheticProvider
from marketdata.timeframes import timeframe_seconds
from marketdata.validation import quality_report
from reports import analysis

REQUEST = v4_body(strategyName="RSI dip")
METRICS = {
    "net_return_pct": 12.5,
    "cagr_pct": 26.1,
    "win_rate": 41.25,
    "profit_factor": 1.42,
    "expectancy_r": 0.18,
    "max_drawdown_pct": 7.8,
    "sharpe": 1.31,
    "sortino": 1.9,
    "esi": 80.0,
    "pvs": 91.2,
    "buy_and_hold_return_pct": 4.2,
    "initial_capital": 10_000.0,
    "final_equity": 11_250.0,
    "payoff_ratio": 2.1,
    "gross_profit": 5000.0,
    "total_fees": 0.0,
    "period_days": 182.0,
    "strategy_text": "Long: RSI(14) < 35 · stop 1% · target 2%",
}


def synthetic_prices(
    market: str = "XAUUSD", timeframe: str = "1h", start: str = "2024-01-01", end: str = "2024-07-01"
) -> pd.DataFrame:
    return SyntheticProvider().download(market, timeframe, pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"))


def make_trades(prices: pd.DataFrame, count: int, *, hold: int = 5, capital: float = 10_000.0) -> list[dict]:
    """``count`` long trades spread over ``prices``: in at a bar's open, out ``hold`` bars later."""
    n = len(prices)
    spacing = max(hold + 1, (n - hold - 1) // max(1, count))
    opens = prices["open"].to_numpy()
    trades = []
    for i in range(count):
        entry_bar = min(i * spacing, n - hold - 1)
        exit_bar = entry_bar + hold
        entry, exit_ = float(opens[entry_bar]), float(opens[exit_bar])
        size = capital * 0.5 / entry
        pnl = (exit_ - entry) * size
        trades.append(
            {
                "seq": i + 1,
                "direction": "long",
                "entry_time": prices.index[entry_bar].to_pydatetime(),
                "entry_price": entry,
                "exit_time": prices.index[exit_bar].to_pydatetime(),
                "exit_price": exit_,
                "size": size,
                "pnl": pnl,
                "pnl_pct": (exit_ / entry - 1) * 100,
                "exit_reason": "signal" if i % 3 else "target",
                "bars_held": hold,
                "fees": 0.0,
                "r_multiple": (exit_ / entry - 1) * 100 / 1.0 if i % 7 else None,
            }
        )
    return trades


def equity_points(trades: list[dict], start: datetime, end: datetime, capital: float = 10_000.0) -> list[list]:
    points = [[start.isoformat(), capital]]
    equity = capital
    for t in trades:
        equity += t["pnl"]
        points.append([t["exit_time"].isoformat(), round(equity, 6)])
    points.append([end.isoformat(), round(equity, 6)])
    return points


def bar_equity(trades: list[dict], prices: pd.DataFrame, capital: float = 10_000.0) -> pd.Series:
    """The account at every bar of ``prices``: the capital plus the P&L of the trades closed by then."""
    exits = pd.DatetimeIndex([t["exit_time"] for t in trades])
    pnl = np.concatenate(([0.0], np.cumsum([t["pnl"] for t in trades])))
    closed = exits.searchsorted(prices.index, side="right") if len(trades) else np.zeros(len(prices), dtype=int)
    return pd.Series(capital + pnl[closed], index=prices.index)


def stored_run(
    owner,
    *,
    trades: int = 40,
    status: str = "SUCCEEDED",
    market: str = "XAUUSD",
    timeframe: str = "1h",
    metrics: dict | None = None,
    warnings: list | None = None,
    strategy_name: str = "RSI dip",
    benchmark: bool = True,
    **fields,
):
    """A saved run (with its Trade rows) as the worker would have left it; pass
    ``report_data=None`` for a run stored before the report's data was kept, ``benchmark=False``
    for one stored before benchmark figures were."""
    from backtests.models import BacktestRun, Trade

    request = copy.deepcopy(REQUEST)
    request["marketContext"].update(market=market, timeframe=timeframe)
    request["strategyName"] = strategy_name
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)
    succeeded = status == "SUCCEEDED"
    rows, bars, curve, report_data, quality = [], None, None, None, None
    run_metrics = dict(METRICS if metrics is None else metrics)
    if succeeded:
        prices = synthetic_prices(market, timeframe)
        bars = len(prices)
        rows = make_trades(prices, trades)
        start, end = prices.index[0].to_pydatetime(), prices.index[-1].to_pydatetime()
        curve = equity_points(rows, start, end)
        run_metrics.setdefault("trade_count", len(rows))
        run_metrics["win_rate"] = run_metrics.get("win_rate")
        report_data = analysis.report_extras(
            prices,
            pd.DataFrame(rows, columns=list(analysis.TRADE_COLUMNS)),
            analysis.equity_series(curve).index,
            analysis.initial_capital(run_metrics, request),
        )
        if benchmark:  # as the worker measures it: the equity at every bar against holding the market
            comparison = B.compare(
                bar_equity(rows, prices), prices["close"], days_per_year=365.25 * 5 / 7, name=f"{market} buy and hold"
            )
            run_metrics.update({k: v for k, v in comparison.metrics.items() if k not in run_metrics})
            report_data.update(benchmark_name=comparison.metrics["benchmark"], rolling=comparison.rolling)
        window_end = prices.index[-1] + pd.Timedelta(seconds=timeframe_seconds(timeframe))  # as the loader judges it
        quality = quality_report(prices, symbol=market, timeframe=timeframe, start=start, end=window_end)
    values = {
        "owner": owner,
        "request": request,
        "market": market,
        "timeframe": timeframe,
        "direction": "Long",
        "status": status,
        "progress": 100 if succeeded else 0,
        "stage": "done" if succeeded else "queued",
        "metrics": run_metrics if succeeded else None,
        "trade_count": len(rows) if succeeded else None,
        "equity_curve": curve,
        "report_data": report_data,
        "data_quality": quality,
        "data_source": "synthetic",
        "data_start": start,
        "data_end": end,
        "bars": bars,
        "engine_version": "test",
        "warnings": warnings or [],
    }
    values.update(fields)
    run = BacktestRun.objects.create(**values)
    Trade.objects.bulk_create([Trade(run=run, **row) for row in rows])
    return run


def stored_inputs(run):
    """The report inputs of a stored run, as the page and the PDF read them."""
    from backtests.selectors import report_inputs_for_run

    return report_inputs_for_run(run=run)
