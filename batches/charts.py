"""Charts of the batch report as inline SVG strings (matplotlib, Agg, no pyplot state).

One report per batch, so matplotlib's 20–50 ms per chart is affordable here. Every function
takes already-computed numbers and returns an ``<svg>`` string; empty input gives a
labelled empty chart, never an exception.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

INK, MUTED, ACCENT, OOS, GRID = "#1d2433", "#667085", "#2563eb", "#d97706", "#e5e7eb"
RC = {
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.edgecolor": GRID,
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _figure(width: float, height: float):
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height))
        ax = fig.add_subplot()
    return fig, ax


def _empty(fig: Figure, ax, message: str) -> str:
    ax.text(0.5, 0.5, message, ha="center", va="center", color=MUTED, transform=ax.transAxes)
    ax.set_axis_off()
    return _render(fig)


def _render(fig: Figure) -> str:
    with matplotlib.rc_context(RC):
        return _svg(fig)


def _label(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def heatmap(
    x_name: str,
    y_name: str,
    cells: dict[tuple, float | None],
    x_values: Sequence,
    y_values: Sequence,
    metric_label: str,
) -> str:
    """A grid of the objective over two swept parameters (each cell: the best over the
    other parameters); empty cells are grey."""
    with matplotlib.rc_context(RC):
        fig, ax = _figure(7.2, max(2.4, 0.32 * len(y_values) + 1.2))
        if not cells or not x_values or not y_values:
            return _empty(fig, ax, "no scored runs")
        data = np.full((len(y_values), len(x_values)), np.nan)
        for (x, y), value in cells.items():
            if value is not None:
                data[list(y_values).index(y), list(x_values).index(x)] = value
        masked = np.ma.masked_invalid(data)
        cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#f3f4f6")
        image = ax.imshow(masked, cmap=cmap, aspect="auto", origin="lower")
        ax.set_xticks(range(len(x_values)), [_label(v) for v in x_values], rotation=45 if len(x_values) > 8 else 0)
        ax.set_yticks(range(len(y_values)), [_label(v) for v in y_values])
        ax.set_xlabel(x_name)
        ax.set_ylabel(y_name)
        if data.size <= 150:
            for i in range(data.shape[0]):
                for j in range(data.shape[1]):
                    if np.isfinite(data[i, j]):
                        ax.text(j, i, f"{data[i, j]:.2f}", ha="center", va="center", fontsize=6.5, color=INK)
        fig.colorbar(image, ax=ax, label=metric_label, fraction=0.04, pad=0.02)
        return _svg(fig)


def distribution(values: Sequence[float], best: float | None, label: str) -> str:
    with matplotlib.rc_context(RC):
        fig, ax = _figure(7.2, 2.2)
        finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
        if not len(finite):
            return _empty(fig, ax, "no scored runs")
        ax.hist(finite, bins=min(40, max(5, int(np.sqrt(len(finite))))), color=ACCENT, alpha=0.75)
        if best is not None:
            ax.axvline(best, color=OOS, linewidth=1.2, label="best")
            ax.legend(frameon=False)
        ax.set_xlabel(label)
        ax.set_ylabel("runs")
        ax.grid(color=GRID, linewidth=0.5)
        return _svg(fig)


def equity(
    points: Sequence[Sequence], label: str, color: str = ACCENT, segments: Sequence[tuple[str, str]] = ()
) -> str:
    """An equity curve from ``[iso time, equity]`` pairs; ``segments`` shade spans (e.g. the
    out-of-sample windows)."""
    with matplotlib.rc_context(RC):
        fig, ax = _figure(7.2, 2.4)
        if not points:
            return _empty(fig, ax, "no equity curve")
        index = pd.to_datetime([p[0] for p in points], utc=True)
        values = np.asarray([p[1] for p in points], dtype=np.float64)
        for number, (start, end) in enumerate(segments):
            ax.axvspan(pd.Timestamp(start), pd.Timestamp(end), color=GRID if number % 2 else "#f8fafc", zorder=0)
        ax.plot(index, values, color=color, linewidth=1.2, label=label)
        ax.legend(frameon=False, loc="upper left")
        ax.set_ylabel("Equity")
        ax.grid(color=GRID, linewidth=0.5)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        fig.autofmt_xdate()
        return _svg(fig)


def windows_timeline(windows: Sequence[dict]) -> str:
    """One row per walk-forward window: the in-sample span (blue) and the out-of-sample span
    (amber) that follows it."""
    with matplotlib.rc_context(RC):
        fig, ax = _figure(7.2, max(1.6, 0.28 * len(windows) + 0.9))
        if not windows:
            return _empty(fig, ax, "no windows")
        for row, window in enumerate(windows):
            is_start, is_end = (
                mdates.date2num(pd.Timestamp(window["is_start"])),
                mdates.date2num(pd.Timestamp(window["is_end"])),
            )
            oos_end = mdates.date2num(pd.Timestamp(window["oos_end"]))
            ax.broken_barh([(is_start, is_end - is_start)], (row - 0.35, 0.7), color=ACCENT, alpha=0.8)
            ax.broken_barh([(is_end, oos_end - is_end)], (row - 0.35, 0.7), color=OOS, alpha=0.9)
        ax.set_yticks(range(len(windows)), [f"window {w['index'] + 1}" for w in windows])
        ax.invert_yaxis()
        ax.xaxis_date()
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        ax.grid(color=GRID, linewidth=0.5, axis="x")
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(color=ACCENT, label="in sample (grid)"), Patch(color=OOS, label="out of sample")],
            frameon=False,
            loc="upper center",
            bbox_to_anchor=(0.5, 1.18),
            ncol=2,
        )
        fig.autofmt_xdate()
        return _svg(fig)
