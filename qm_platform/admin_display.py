"""How admin pages show values a person reads: short ids with the full one on hover, numbers
rounded to their units, long text truncated with a tooltip, JSON as a few summary lines (the
whole of it folded away) and a series as an inline SVG sparkline, never a raw dump.

Pure presentation helpers (Django's ``format_html`` only), shared by every app's ``admin.py``;
the stylesheet they rely on is ``backtests/static/qm/admin.css``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

DASH = "–"


def short_id(value: Any, length: int = 8) -> SafeString:
    """The first ``length`` characters of an id, monospaced, the whole id as its tooltip."""
    text = str(value)
    return format_html('<span class="qm-id" title="{}">{}</span>', text, text[:length])


def truncated(value: Any, length: int = 40) -> SafeString | str:
    """Text cut at ``length`` characters with an ellipsis, the whole text as its tooltip."""
    text = "" if value is None else str(value)
    if not text:
        return DASH
    if len(text) <= length:
        return text
    return format_html('<span class="qm-trunc" title="{}">{}…</span>', text, text[: length - 1])


def number(value: Any, decimals: int = 2, *, suffix: str = "", signed: bool = False) -> str:
    """A number rounded to ``decimals`` with thousands separators (``-99.00000000000001`` →
    ``-99.00``); None, NaN and infinities as a dash."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return DASH
    sign = "+" if signed and value > 0 else ""
    text = f"{value:,.{decimals}f}"
    if not text.strip("-0.,"):  # -0.00: no sign on a zero
        text = text.lstrip("-")
    return f"{sign}{text}{suffix}"


def moment(value: Any) -> str:
    """A time as ``2024-03-01 14:15`` in UTC (a trade table's column stays narrow); None as a dash."""
    if not isinstance(value, datetime):
        return DASH
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M")


def table(rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None) -> SafeString:
    """A compact summary table; cells are escaped unless already safe HTML."""
    head = ""
    if header:
        head = format_html("<thead><tr>{}</tr></thead>", format_html_join("", "<th>{}</th>", ((h,) for h in header)))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows)
    )
    return format_html('<table class="qm-summary">{}<tbody>{}</tbody></table>', head, body)


def json_summary(data: Any, *, lines: int = 6) -> SafeString | str:
    """At most ``lines`` lines of ``data`` shown; anything longer folded into a <details>
    that holds the pretty-printed whole (scrollable, bounded in height)."""
    if data in (None, "", [], {}):
        return DASH
    text = json.dumps(data, indent=2, sort_keys=False, default=str)
    all_lines = text.splitlines()
    if len(all_lines) <= lines:
        return format_html('<pre class="qm-json">{}</pre>', text)
    if isinstance(data, Mapping):
        label = f"{len(data)} keys: " + ", ".join(str(k) for k in list(data)[:8]) + (" …" if len(data) > 8 else "")
    elif isinstance(data, list):
        label = f"{len(data):,} items"
    else:
        label = f"{len(all_lines):,} lines"
    return format_html(
        '<details class="qm-json"><summary>{} ({} lines)</summary><pre tabindex="0">{}</pre></details>',
        label,
        f"{len(all_lines):,}",
        text,
    )


def sparkline(values: Sequence[float], *, width: int = 240, height: int = 48, label: str = "trend") -> SafeString:
    """An inline SVG line of ``values`` (at most ``width`` points kept: each bucket's first),
    green when it ends above its start, red otherwise."""
    points = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if len(points) < 2:
        return mark_safe(DASH)
    step = max(1, math.ceil(len(points) / width))
    kept = points[::step]
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    low, high = min(kept), max(kept)
    span = (high - low) or 1.0
    xs = [i * (width - 2) / (len(kept) - 1) + 1 for i in range(len(kept))]
    ys = [height - 2 - (v - low) / span * (height - 4) for v in kept]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    colour = "#15803d" if points[-1] >= points[0] else "#b42318"
    return format_html(
        '<svg class="qm-spark" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/></svg>',
        width,
        height,
        width,
        height,
        label,
        path,
        colour,
    )
