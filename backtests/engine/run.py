"""``run_backtest``: data + strategy → trades, equity and metrics. Pure and deterministic."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from reports import metrics as metric_fns

from .conditions import compute_operands, evaluate
from .errors import InsufficientData
from .simulate import SimulatedTrades, simulate
from .strategy import StrategySpec

ENGINE_VERSION = "0.1.0"
MIN_BARS = 2
ProgressFn = Callable[[str, int, int], None]


@dataclass
class BacktestResult:
    trades: pd.DataFrame
    equity: pd.Series
    metrics: dict[str, Any]
    engine_version: str = ENGINE_VERSION
    data_checksum: str = ""
    bars: int = 0
    strategy_text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def data_checksum(data: pd.DataFrame) -> str:
    """sha256 over the UTC timestamps (ns) and the OHLCV values."""
    digest = hashlib.sha256()
    digest.update(data.index.as_unit("ns").asi8.tobytes())
    for column in ("open", "high", "low", "close", "volume"):
        if column in data.columns:
            digest.update(np.ascontiguousarray(data[column].to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()


def run_backtest(data: pd.DataFrame, spec: StrategySpec, on_progress: ProgressFn | None = None) -> BacktestResult:
    """Compute the modules, the entry signal, simulate and measure.

    ``on_progress(stage, done, total)`` is called with stages ``computing_modules``,
    ``simulating`` and ``analysing``; it may raise to stop the run (cancellation).
    """
    if len(data) < MIN_BARS:
        raise InsufficientData(f"the data has {len(data)} bars; a backtest needs at least {MIN_BARS}")
    progress = on_progress or (lambda *_: None)
    progress("computing_modules", 0, 1)
    columns = compute_operands(data, spec.entry_blocks,
                               on_module=lambda done, total: progress("computing_modules", done, total))
    signal = evaluate(spec.entry_blocks, columns, len(data))
    sim = simulate(spec, signal, columns["open"], columns["high"], columns["low"], columns["close"],
                   on_progress=progress)
    progress("analysing", 0, 1)
    index = data.index
    trades = _trade_frame(sim, index, spec.direction)
    equity = pd.Series(sim.equity, index=index, name="equity")
    metrics = metric_fns.compute_all(trades, equity, spec.initial_capital, close=columns["close"])
    progress("analysing", 1, 1)
    return BacktestResult(trades=trades, equity=equity, metrics=metrics, data_checksum=data_checksum(data),
                          bars=len(data), strategy_text=spec.describe())


def _trade_frame(sim: SimulatedTrades, index: pd.DatetimeIndex, direction: str) -> pd.DataFrame:
    return pd.DataFrame({
        "direction": np.full(len(sim), direction.lower(), dtype=object),
        "entry_time": index[sim.entry_bar], "entry_price": sim.entry_price,
        "exit_time": index[sim.exit_bar], "exit_price": sim.exit_price,
        "size": sim.size, "pnl": sim.pnl, "pnl_pct": sim.pnl_pct, "r_multiple": sim.r_multiple,
        "exit_reason": sim.exit_reason, "bars_held": sim.exit_bar - sim.entry_bar,
        "entry_bar": sim.entry_bar, "exit_bar": sim.exit_bar, "fees": np.zeros(len(sim)),
    })
