"""The backtest engine: a pure library (no Django). See docs/engine.md."""

from .errors import EngineError, InsufficientData, StrategyError
from .run import ENGINE_VERSION, BacktestResult, data_checksum, run_backtest, simulate_signals, warm_up
from .simulate import Signals
from .strategy import StrategySpec

__all__ = [
    "ENGINE_VERSION",
    "BacktestResult",
    "EngineError",
    "InsufficientData",
    "StrategyError",
    "Signals",
    "StrategySpec",
    "data_checksum",
    "run_backtest",
    "simulate_signals",
    "warm_up",
]
