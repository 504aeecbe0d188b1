"""The portfolio section's charts (inline SVG, drawn like ``reports.charts``): each market's
contribution to the P&L, the correlation of the markets' returns, and exposure and open
positions over time. Every function takes the stored ``report_data["portfolio"]`` numbers
(``backtests.engine.portfolio.portfolio_report``); empty input gives a labelled empty chart."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from reports.charts import (
    ACCENT,
    AXIS,
    INK,
    LOSS,
    WIDTH,
    WIN,
    _area,
    _Axes,
    _diverging_color,
    _empty,
    _legend,
    _line,
    _svg,
    _text,
    _time_value_axes,
    count_ticks,
)
from reports.kpis import number_text

POSITIONS = "#d97706"


def contribution_bars(contribution: Sequence[dict], capital: float) -> str:
    """One horizontal bar per market: its net P&L (money), green or red, with trades and win
    rate beside it; markets in the basket's order."""
    title = "Contribution to P&L by market"
    if not contribution:
        return _empty(90, title, "No markets")
    row_h, left, top = 22.0, 92.0, 30.0
    height = top + row_h * len(contribution) + 14
    values = np.array([float(c["pnl"]) for c in contribution])
    scale = float(np.abs(values).max()) or 1.0
    right = WIDTH - 210
    zero = left + (right - left) / 2
    half = (right - left) / 2
    body = [_text(4, 14, title, anchor="start", color=INK, size=11, weight="bold")]
    body.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top - 4:.1f}" y2="{height - 10:.1f}" stroke="{AXIS}"/>')
    for i, (item, value) in enumerate(zip(contribution, values.tolist())):
        y = top + i * row_h
        width = abs(value) / scale * half
        x = zero if value >= 0 else zero - width
        body.append(_text(left - 8, y + row_h / 2 + 4, str(item["market"]), anchor="end", color=INK))
        body.append(
            f'<rect x="{x:.1f}" y="{y + 4:.1f}" width="{max(width, 0.5):.1f}" height="{row_h - 8:.1f}" '
            f'fill="{WIN if value >= 0 else LOSS}" fill-opacity="0.8"/>'
        )
        win = item.get("win_rate_pct")
        share = value / capital * 100 if capital else float("nan")
        text = f"{number_text('{:+,.2f}', value)} ({number_text('{:+.2f}', share)}%) · {item['trades']} trades" + (
            f" · {win:.0f}% won" if win is not None else ""
        )
        body.append(_text(right + 8, y + row_h / 2 + 4, text, anchor="start", color=INK, size=9.5))
    return _svg(height, body, title)


def correlation_heatmap(correlation: dict) -> str:
    """The markets × markets correlation of their close-to-close returns, -1 red to +1 green."""
    title = "Correlation of the markets' returns"
    markets = list(correlation.get("markets") or [])
    matrix = correlation.get("matrix") or []
    if len(markets) < 2:
        return _empty(90, title, "One market: nothing to correlate")
    n = len(markets)
    left, top = 80.0, 70.0
    cell = max(12.0, min(40.0, (WIDTH - left - 10) / n))
    height = top + cell * n + 10
    body = [_text(4, 14, title, anchor="start", color=INK, size=11, weight="bold")]
    size = 9.0 if cell >= 24 else 7.0
    for j, market in enumerate(markets):
        x = left + cell * (j + 0.5)
        body.append(
            f'<text x="{x:.1f}" y="{top - 6:.1f}" transform="rotate(-50 {x:.1f} {top - 6:.1f})" '
            f'font-size="{size}" fill="{INK}">{market}</text>'
        )
    for i, market in enumerate(markets):
        y = top + i * cell
        body.append(_text(left - 6, y + cell / 2 + 3, market, anchor="end", color=INK, size=size))
        for j in range(n):
            value = matrix[i][j] if i < len(matrix) and j < len(matrix[i]) else None
            v = float(value) if value is not None else float("nan")
            body.append(
                f'<rect x="{left + j * cell + 0.5:.1f}" y="{y + 0.5:.1f}" width="{cell - 1:.1f}" '
                f'height="{cell - 1:.1f}" fill="{_diverging_color(v, 1.0)}"/>'
            )
            if cell >= 24 and math.isfinite(v):
                color = "#fff" if abs(v) > 0.65 else INK
                body.append(_text(left + (j + 0.5) * cell, y + cell / 2 + 3, f"{v:+.2f}", size=8.5, color=color))
    return _svg(height, body, title)


def exposure_chart(rows: Sequence[Sequence], height: float = 200) -> str:
    """Gross exposure (percent of equity, the area) and open positions (the line, right axis)
    over time; ``rows`` are [ISO time, exposure %, open positions]."""
    title = "Exposure and open positions"
    if len(rows) < 2:
        return _empty(height, title, "Not enough bars")
    times = pd.DatetimeIndex(pd.to_datetime([r[0] for r in rows], utc=True))
    t = times.as_unit("ns").asi8.astype(np.float64)
    exposure = np.array([float(r[1]) for r in rows])
    held = np.array([float(r[2]) for r in rows])
    ax, body = _time_value_axes(t, 0.0, max(float(exposure.max()), 1.0), top=34, height=height)
    base = float(ax.y(0.0))
    xs = ax.x(t)
    body.insert(0, _text(4, 14, title, anchor="start", color=INK, size=11, weight="bold"))
    body.append(_area(xs, ax.y(exposure), base, ACCENT, 0.25))
    body.append(_line(xs, ax.y(exposure), ACCENT, 1.0))
    top = max(float(held.max()), 1.0)
    ticks = count_ticks(top, 4)
    right = _Axes((ax.x0, ax.y0, ax.x1, ax.y1), (ax.xlo, ax.xhi), (0.0, max(ticks[-1], top)))
    body.append(_line(xs, right.y(held), POSITIONS, 1.2))
    for tick in ticks:
        body.append(_text(ax.x1 + 2, float(right.y(tick)) + 3.5, f"{tick:.0f}", anchor="start", color=POSITIONS))
    body += _legend(240, 14, [("exposure, % of equity", ACCENT, ""), ("open positions", POSITIONS, "")])
    return _svg(height, body, title)


def portfolio_section(stored: dict | None, capital: float) -> dict | None:
    """The report's portfolio section from the stored numbers: its charts and a line of facts."""
    if not stored:
        return None
    return {
        "markets": stored.get("markets") or [],
        "max_open_positions": stored.get("max_open_positions"),
        "average_exposure_pct": stored.get("average_exposure_pct"),
        "contribution": stored.get("contribution") or [],
        "chart_contribution": contribution_bars(stored.get("contribution") or [], capital),
        "chart_correlation": correlation_heatmap(stored.get("correlation") or {}),
        "chart_exposure": exposure_chart(stored.get("exposure") or []),
    }
