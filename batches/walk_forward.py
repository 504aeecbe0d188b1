"""Walk-forward windows, the stitched out-of-sample equity and walk-forward efficiency.
Pure: pandas, numpy and the standard library.

Windows over the data window [start, end)::

    rolling:   IS_k = [start + k·step, start + k·step + IS)      OOS_k = [IS_k.end, IS_k.end + OOS)
    anchored:  IS_k = [start,          start + k·step + IS)      OOS_k = [IS_k.end, IS_k.end + OOS)

for k = 0, 1, ... while OOS_k ends at or before ``end``. A run loads the bars with
start <= t < end, so the out-of-sample run of window k only sees bars at or after IS_k.end:
never a bar its parameters were chosen on. Spans are calendar spans: ``6mo``, ``2mo``,
``1y``, ``30d``, ``2wk``, ``12h``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from qm_platform.errors import CodedError

_SPAN = re.compile(r"^(\d+)(h|d|wk|mo|y)$")
MAX_WINDOWS = 120


class WalkForwardError(CodedError):
    """An invalid batch request: rendered as it is by the API's one handler."""


SPAN_DAYS = {"h": 1 / 24, "d": 1, "wk": 7, "mo": 31, "y": 366}
MAX_SPAN_DAYS = 100 * 365  # far beyond any data; keeps date arithmetic inside pandas' range


def parse_span(text: str, field: str) -> pd.DateOffset:
    match = _SPAN.match(str(text or ""))
    if not match or int(match.group(1)) <= 0:
        raise WalkForwardError(
            "INVALID_WALK_FORWARD",
            f"walkForward.{field} must be a span such as '6mo', '2mo', '1y', '30d', '2wk' or '12h', got {text!r}",
            {"field": f"walkForward.{field}"},
        )
    n, unit = int(match.group(1)), match.group(2)
    if n * SPAN_DAYS[unit] > MAX_SPAN_DAYS:
        raise WalkForwardError(
            "INVALID_WALK_FORWARD",
            f"walkForward.{field} {text!r} is longer than {MAX_SPAN_DAYS // 365} years",
            {"field": f"walkForward.{field}", "max_days": MAX_SPAN_DAYS},
        )
    return {
        "h": pd.DateOffset(hours=n),
        "d": pd.DateOffset(days=n),
        "wk": pd.DateOffset(weeks=n),
        "mo": pd.DateOffset(months=n),
        "y": pd.DateOffset(years=n),
    }[unit]


@dataclass(frozen=True)
class Window:
    index: int
    is_start: pd.Timestamp
    is_end: pd.Timestamp
    oos_start: pd.Timestamp
    oos_end: pd.Timestamp

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in asdict(self).items()}


def build_windows(
    start, end, *, in_sample: str, out_of_sample: str, step: str | None = None, anchored: bool = False
) -> list[Window]:
    """The walk-forward windows inside [start, end). Raises WalkForwardError if none fits."""
    start, end = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    is_span = parse_span(in_sample, "inSample")
    oos_span = parse_span(out_of_sample, "outOfSample")
    step_span = parse_span(step, "step") if step else oos_span
    windows = []
    for k in range(MAX_WINDOWS + 1):
        shift = start + step_span * k if k else start
        is_start = start if anchored else shift
        is_end = shift + is_span
        oos_end = is_end + oos_span
        if oos_end > end:
            break
        if k == MAX_WINDOWS:
            raise WalkForwardError(
                "INVALID_WALK_FORWARD",
                f"more than {MAX_WINDOWS} windows; use a longer step",
                {"field": "walkForward.step", "max_windows": MAX_WINDOWS},
            )
        windows.append(Window(k, is_start, is_end, is_end, oos_end))
    if not windows:
        raise WalkForwardError(
            "INVALID_WALK_FORWARD",
            f"the data window {start:%Y-%m-%d} to {end:%Y-%m-%d} is "
            f"shorter than one in-sample span ({in_sample}) plus one out-of-sample span "
            f"({out_of_sample})",
            {"field": "walkForward"},
        )
    return windows


def annualised_return_pct(net_return_pct: float | None, days: float) -> float | None:
    """Compound annual return in percent of a total return over ``days`` calendar days.
    None when unknown, when the account was wiped out, or for an empty span."""
    if net_return_pct is None or not days > 0 or net_return_pct <= -100:
        return None
    return ((1 + net_return_pct / 100) ** (365.25 / days) - 1) * 100


def efficiency(oos_annualised: float | None, is_annualised: float | None) -> float | None:
    """Walk-forward efficiency: out-of-sample over in-sample annualised return. None when
    either is unknown or the in-sample return is not positive (the ratio then means nothing)."""
    if oos_annualised is None or is_annualised is None or not is_annualised > 0:
        return None
    return oos_annualised / is_annualised


def stitch(segments: Sequence[dict], initial_capital: float) -> tuple[pd.DataFrame, pd.Series]:
    """Chain the out-of-sample windows into one account.

    Each segment is ``{"start": time, "initial_capital": c, "trades": [{"exit_time", "pnl",
    ...}]}`` in window order; a window's trades are scaled by (account at the window's start
    / c), so each window compounds on the previous ones. Returns the scaled trades (with a
    ``window`` column) and the equity at the start of every window and after every trade."""
    capital = float(initial_capital)
    rows, points = [], []
    for number, segment in enumerate(segments):
        points.append((pd.Timestamp(segment["start"]), capital))
        scale = capital / float(segment["initial_capital"] or initial_capital)
        for trade in sorted(segment["trades"], key=lambda t: t["exit_time"]):
            pnl = float(trade["pnl"]) * scale
            capital += pnl
            row = dict(trade, pnl=pnl, window=number)
            if trade.get("fees") is not None:
                row["fees"] = float(trade["fees"]) * scale
            rows.append(row)
            points.append((pd.Timestamp(trade["exit_time"]), capital))
        if segment.get("end") is not None:
            points.append((pd.Timestamp(segment["end"]), capital))
    trades = pd.DataFrame(rows)
    if points:
        index = pd.DatetimeIndex([p[0] for p in points])
        index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        equity = pd.Series([p[1] for p in points], index=index, dtype=np.float64)
        equity = equity[~equity.index.duplicated(keep="last")].sort_index()
    else:
        equity = pd.Series(dtype=np.float64, index=pd.DatetimeIndex([], tz="UTC"))
    return trades, equity


def finite_or_none(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
