"""Backtest metrics: pure functions of the trade list and the equity curve.

Units: ``*_pct`` are percent (5.0 means 5 %); money is in account currency; ratios are plain.
Edge cases, written down once:
- no trades: counts are 0, ``win_rate``/``profit_factor``/averages are ``None`` (undefined),
  returns and drawdown come from the (flat) equity curve, so 0.
- no losing trades: ``profit_factor`` is ``None`` (infinite) when there are wins, else ``None``.
- fewer than two equity returns or zero variance: ``sharpe`` is ``None``.
``None`` renders as JSON null: a number is never invented for an undefined metric.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def _none_if_nan(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if not math.isfinite(x) else x


def win_rate(pnl: np.ndarray) -> float | None:
    """Percent of trades with positive net pnl."""
    return None if len(pnl) == 0 else float((pnl > 0).mean() * 100)


def profit_factor(pnl: np.ndarray) -> float | None:
    """Gross profit / gross loss (both as positive money)."""
    gross_loss = -pnl[pnl < 0].sum()
    if len(pnl) == 0 or gross_loss == 0:
        return None
    return float(pnl[pnl > 0].sum() / gross_loss)


def max_drawdown_pct(equity: np.ndarray) -> float:
    """Largest peak-to-trough fall of the equity curve, in percent of the peak (>= 0)."""
    if len(equity) == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity)
    return float(((peaks - equity) / peaks).max() * 100)


def max_drawdown_money(equity: np.ndarray) -> float:
    if len(equity) == 0:
        return 0.0
    return float((np.maximum.accumulate(equity) - equity).max())


def sharpe_per_bar_annualised(equity: pd.Series) -> float | None:
    """Sharpe ratio of per-bar equity returns (risk-free 0), annualised with the median bar
    spacing: sqrt(bars per year) × mean / std (sample std, ddof=1)."""
    returns = equity.pct_change().to_numpy()[1:]
    if len(returns) < 2:
        return None
    std = returns.std(ddof=1)
    if std == 0 or not math.isfinite(std):
        return None
    spacing = np.median(np.diff(equity.index.as_unit("ns").asi8)) / 1e9 if len(equity) > 1 else 0
    bars_per_year = 365.25 * 86400 / spacing if spacing else 252
    return float(math.sqrt(bars_per_year) * returns.mean() / std)


def compute_all(trades: pd.DataFrame, equity: pd.Series, initial_capital: float,
                close: np.ndarray | None = None) -> dict[str, Any]:
    pnl = trades["pnl"].to_numpy(dtype=np.float64) if len(trades) else np.zeros(0)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    eq = equity.to_numpy(dtype=np.float64)
    final = float(eq[-1]) if len(eq) else initial_capital
    result: dict[str, Any] = {
        "trade_count": int(len(pnl)),
        "winning_trades": int(len(wins)),
        "losing_trades": int(len(losses)),
        "win_rate": win_rate(pnl),
        "profit_factor": profit_factor(pnl),
        "net_profit": float(pnl.sum()),
        "gross_profit": float(wins.sum()),
        "gross_loss": float(-losses.sum()),
        "net_return_pct": (final / initial_capital - 1) * 100,
        "max_drawdown_pct": max_drawdown_pct(eq),
        "max_drawdown": max_drawdown_money(eq),
        "average_win": float(wins.mean()) if len(wins) else None,
        "average_loss": float(losses.mean()) if len(losses) else None,
        "largest_win": float(wins.max()) if len(wins) else None,
        "largest_loss": float(losses.min()) if len(losses) else None,
        "expectancy": float(pnl.mean()) if len(pnl) else None,
        "expectancy_r": _none_if_nan(np.nanmean(trades["r_multiple"])) if len(pnl) and
        trades["r_multiple"].notna().any() else None,
        "average_bars_held": float(trades["bars_held"].mean()) if len(pnl) else None,
        "sharpe": sharpe_per_bar_annualised(equity),
        "initial_capital": float(initial_capital),
        "final_equity": final,
        "buy_and_hold_return_pct": float((close[-1] / close[0] - 1) * 100) if close is not None and len(close) else None,
    }
    return {k: _none_if_nan(v) if isinstance(v, float) else v for k, v in result.items()}
