"""Server-side charts as inline SVG (matplotlib, Agg): crisp in the PDF, no JavaScript."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

INK, ACCENT, LOSS, GRID = "#1d2433", "#2563eb", "#dc2626", "#e5e7eb"
plt.rcParams.update({"svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 8,
                     "axes.edgecolor": GRID, "axes.labelcolor": INK, "xtick.color": INK,
                     "ytick.color": INK, "axes.spines.top": False, "axes.spines.right": False})


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _series(points: list[list]) -> pd.Series:
    if not points:
        return pd.Series(dtype=float)
    index = pd.to_datetime([p[0] for p in points], utc=True)
    return pd.Series([p[1] for p in points], index=index)


def equity_chart(points: list[list], initial_capital: float) -> str:
    equity = _series(points)
    fig, ax = plt.subplots(figsize=(7.2, 2.6))
    if len(equity):
        ax.plot(equity.index, equity.values, color=ACCENT, linewidth=1.2, label="Strategy equity")
        ax.axhline(initial_capital, color="#9ca3af", linewidth=0.8, linestyle="--", label="Initial capital")
        ax.fill_between(equity.index, initial_capital, equity.values, where=equity.values >= initial_capital,
                        color=ACCENT, alpha=0.08, linewidth=0)
        ax.legend(frameon=False, loc="upper left")
    ax.set_ylabel("Equity")
    ax.grid(color=GRID, linewidth=0.5)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    return _svg(fig)


def drawdown_chart(points: list[list]) -> str:
    equity = _series(points)
    fig, ax = plt.subplots(figsize=(7.2, 1.8))
    if len(equity):
        peaks = np.maximum.accumulate(equity.values)
        drawdown = (equity.values / peaks - 1) * 100
        ax.fill_between(equity.index, drawdown, 0, color=LOSS, alpha=0.35, linewidth=0)
        ax.plot(equity.index, drawdown, color=LOSS, linewidth=0.8)
    ax.set_ylabel("Drawdown %")
    ax.grid(color=GRID, linewidth=0.5)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    return _svg(fig)
