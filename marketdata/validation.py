"""OHLCV validation and data quality. Pure: numpy and pandas only, no Django.

Checks, row by row on the frame as given (so a CSV can name the line of each problem):
``nan`` (a missing open/high/low/close/volume), ``non_positive_price``, ``negative_volume``,
``high_below_open_close`` (high < max(open, close)), ``low_above_open_close``
(low > min(open, close)), ``unsorted`` (earlier than the row before) and ``duplicate``
(a timestamp seen before).

Policy per call:

- ``reject``: any problem raises ``DataValidationError`` listing the first ones.
- ``repair``: order and duplicates are repaired (sorted; the last row of a timestamp wins);
  rows that cannot be repaired (NaN, impossible OHLC, non-positive prices, negative volume)
  are left out, since a gap is honest and a wrong bar is not, and every one is reported.

Spikes (robust z-score of a bar's log return against the median absolute return of the
bars around it) and gaps (against the market's expected calendar) are never repaired:
they are reported in the quality report.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from backtests.engine import data_checksum
from marketdata.timeframes import timeframe_seconds
from qm_platform.errors import CodedError

OHLCV = ["open", "high", "low", "close", "volume"]
POLICIES = ("reject", "repair")
MAX_LISTED = 20  # problems, gaps and spikes listed in full in a report
SPIKE_Z = 12.0  # robust z-score above which a return is a spike
SPIKE_WINDOW = 500  # bars around a return that set its normal size
REPAIRABLE = {"unsorted", "duplicate"}

# Markets by calendar. Anything not listed is treated as FX-like (24/5).
CRYPTO = {"BTCUSD", "ETHUSD", "SOLUSD", "XRPUSD", "LTCUSD"}
# Exchange sessions for cash indices: (zone, open, close) in local time, Monday to Friday.
INDEX_SESSIONS = {
    "US30": ("America/New_York", "09:30", "16:00"),
    "NAS100": ("America/New_York", "09:30", "16:00"),
    "SPX500": ("America/New_York", "09:30", "16:00"),
    "GER40": ("Europe/Berlin", "09:00", "17:30"),
    "UK100": ("Europe/London", "08:00", "16:30"),
    "JPN225": ("Asia/Tokyo", "09:00", "15:00"),
}
# FX and metals: bars are required Monday 00:00 to Friday 20:00 UTC; the edges of the
# weekend (Friday evening, Sunday evening) depend on daylight saving time and on the
# venue, so bars there are welcome but not required.
FX_REQUIRED_UNTIL_FRIDAY = pd.Timedelta(hours=20)


class DataValidationError(CodedError):
    """The data breaks the rules under policy ``reject`` (or nothing valid is left)."""

    code = "INVALID_DATA"

    def __init__(self, message: str, problems: list[dict]):
        super().__init__(None, message, {"problems": problems[:20], "problem_count": len(problems)})
        self.problems = problems


@dataclass
class ValidationResult:
    frame: pd.DataFrame  # sorted, de-duplicated, valid rows only
    problems: list[dict] = field(default_factory=list)  # what was wrong, by input row
    repaired: list[str] = field(default_factory=list)  # plain-language notes of repairs
    dropped_rows: int = 0


def market_calendar(symbol: str) -> str:
    """``"crypto"`` (24/7), ``"index"`` (exchange hours) or ``"fx"`` (24/5 FX and metals)."""
    base = symbol.upper().split("@", 1)[0]
    if base in CRYPTO:
        return "crypto"
    if base in INDEX_SESSIONS:
        return "index"
    return "fx"


CALENDAR_NAMES = {"crypto": "24/7 crypto", "fx": "24/5 FX and metals", "index": "exchange hours"}


def session_seconds(symbol: str) -> float | None:
    """Length of one exchange session in seconds for an ``"index"`` market (US30: 6.5 h), else None."""
    session = INDEX_SESSIONS.get(symbol.upper().split("@", 1)[0])
    if session is None:
        return None
    _, open_s, close_s = session
    return (pd.Timedelta(close_s + ":00") - pd.Timedelta(open_s + ":00")).total_seconds()


# ---- row checks -------------------------------------------------------------------------


def find_problems(df: pd.DataFrame) -> list[dict]:
    """Every rule a row breaks, in input order: ``{"row", "timestamp", "check", "message"}``.

    ``row`` is the 0-based position in ``df``. Requires the OHLCV columns that are present to
    be numeric and the index to be a DatetimeIndex.
    """
    problems: list[dict] = []
    cols = [c for c in OHLCV if c in df.columns]
    values = {c: df[c].to_numpy(dtype="float64", na_value=np.nan) for c in cols}
    index = pd.DatetimeIndex(df.index)

    def add(mask: np.ndarray, check: str, message) -> None:
        for i in np.flatnonzero(mask):
            problems.append(
                {
                    "row": int(i),
                    "timestamp": _iso(index[i]),
                    "check": check,
                    "message": message(i) if callable(message) else message,
                }
            )

    nan = np.zeros(len(df), dtype=bool)
    for c in cols:
        nan |= ~np.isfinite(values[c])  # missing (NaN) or infinite: neither is a price
    add(
        nan,
        "nan",
        lambda i: "missing or infinite value in " + ", ".join(c for c in cols if not np.isfinite(values[c][i])),
    )
    prices = [c for c in ("open", "high", "low", "close") if c in cols]
    with np.errstate(invalid="ignore"):
        non_pos = np.zeros(len(df), dtype=bool)
        for c in prices:
            non_pos |= values[c] <= 0
        add(non_pos & ~nan, "non_positive_price", "a price is zero or negative")
        if "volume" in cols:
            add((values["volume"] < 0) & ~nan, "negative_volume", "volume is negative")
        if {"open", "high", "low", "close"} <= set(cols):
            o, h, lo, c = values["open"], values["high"], values["low"], values["close"]
            tol = 1e-9 * np.abs(np.maximum(o, c))
            add(
                (h < np.maximum(o, c) - tol) & ~nan,
                "high_below_open_close",
                lambda i: f"high {h[i]:g} is below max(open {o[i]:g}, close {c[i]:g})",
            )
            add(
                (lo > np.minimum(o, c) + tol) & ~nan,
                "low_above_open_close",
                lambda i: f"low {lo[i]:g} is above min(open {o[i]:g}, close {c[i]:g})",
            )
    ts = index.as_unit("ns").asi8
    if len(ts) > 1:
        add(np.concatenate(([False], ts[1:] < ts[:-1])), "unsorted", "earlier than the row before it")
    dup = index.duplicated(keep="first")
    add(dup, "duplicate", "the same timestamp appears on an earlier row")
    problems.sort(key=lambda p: (p["row"], p["check"]))
    return problems


def validate_ohlcv(df: pd.DataFrame, *, policy: str = "repair") -> ValidationResult:
    """Apply the checks under ``policy``; see the module docstring."""
    if policy not in POLICIES:
        raise ValueError(f"unknown validation policy {policy!r}; expected one of {POLICIES}")
    problems = find_problems(df)
    if policy == "reject" and problems:
        raise DataValidationError(f"{len(problems)} problem(s) in the data; first: {_describe(problems[0])}", problems)
    frame = df
    repaired: list[str] = []
    unrepairable = sorted({p["row"] for p in problems if p["check"] not in REPAIRABLE})
    if unrepairable:
        keep = np.ones(len(df), dtype=bool)
        keep[unrepairable] = False
        frame = frame[keep]
        first = next(p for p in problems if p["row"] == unrepairable[0])
        repaired.append(f"left out {len(unrepairable)} bar(s) that could not be repaired (first: {_describe(first)})")
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
        repaired.append("sorted the bars by time")
    dups = frame.index.duplicated(keep="last")
    if dups.any():
        frame = frame[~dups]
        repaired.append(f"dropped {int(dups.sum())} duplicate timestamp(s) (the last row of each wins)")
    return ValidationResult(frame=frame, problems=problems, repaired=repaired, dropped_rows=len(unrepairable))


def _describe(problem: dict) -> str:
    return f"row {problem['row']} ({problem['timestamp']}): {problem['message']}"


# ---- gaps against the calendar ----------------------------------------------------------


def expected_slots(symbol: str, timeframe: str, start, end) -> pd.DatetimeIndex:
    """Start times of the bars the market should have in [start, end), UTC."""
    bar = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    start, end = _utc(start), _utc(end)
    if end <= start:
        return pd.DatetimeIndex([], tz="UTC")
    calendar = market_calendar(symbol)
    if calendar == "index":
        return _index_slots(symbol, bar, start, end)
    if bar >= pd.Timedelta(days=1):
        grid = pd.date_range(start.ceil("D"), end, freq="D", inclusive="left")
        if calendar == "fx":
            grid = grid[(grid.day_of_week < 5) & ~_holiday(grid)]
        return grid
    grid = pd.date_range(start.ceil(bar), end, freq=bar, inclusive="left")
    if calendar == "crypto":
        return grid
    week_start = grid.normalize() - pd.to_timedelta(grid.day_of_week, unit="D")
    into_week = grid - week_start
    required = into_week < pd.Timedelta(days=4) + FX_REQUIRED_UNTIL_FRIDAY
    # A bar must also end before the Friday cut to be required.
    required &= (into_week + bar) <= pd.Timedelta(days=4) + FX_REQUIRED_UNTIL_FRIDAY
    return grid[required & ~_holiday(grid)]


def _holiday(grid: pd.DatetimeIndex) -> np.ndarray:
    """Christmas and New Year's Day: thin or closed everywhere; not required."""
    return ((grid.month == 12) & (grid.day == 25)) | ((grid.month == 1) & (grid.day == 1))


def _index_slots(symbol: str, bar: pd.Timedelta, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    zone, open_s, close_s = INDEX_SESSIONS[symbol.upper().split("@", 1)[0]]
    open_t, close_t = pd.Timedelta(open_s + ":00"), pd.Timedelta(close_s + ":00")
    days = pd.date_range(
        start.tz_convert(zone).normalize() - pd.Timedelta(days=1),
        end.tz_convert(zone).normalize() + pd.Timedelta(days=1),
        freq="D",
    )
    days = days[(days.day_of_week < 5) & ~_holiday(days)]
    if bar >= pd.Timedelta(days=1):
        slots = pd.DatetimeIndex([pd.Timestamp(d.date(), tz="UTC") for d in days])
        return slots[(slots >= start.floor("D")) & (slots < end)]
    steps = pd.to_timedelta(np.arange(0, int(np.ceil((close_t - open_t) / bar))) * bar.value, unit="ns")
    out = [(d.tz_localize(None) + open_t) + steps for d in days]
    if not out:
        return pd.DatetimeIndex([], tz="UTC")
    local = pd.DatetimeIndex(np.concatenate([o.values for o in out]))
    slots = local.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").dropna().tz_convert("UTC")
    return slots[(slots >= start) & (slots < end)]


def find_gaps(index: pd.DatetimeIndex, symbol: str, timeframe: str, start, end) -> tuple[int, list[dict]]:
    """(expected bar count, gaps): runs of expected slots with no bar starting inside them."""
    bar = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    slots = expected_slots(symbol, timeframe, start, end)
    if not len(slots):
        return 0, []
    actual = pd.DatetimeIndex(index).tz_convert("UTC").as_unit("ns").asi8
    s = slots.as_unit("ns").asi8
    pos = np.searchsorted(actual, s, side="left")
    nxt = np.where(pos < len(actual), actual[np.minimum(pos, len(actual) - 1)], np.iinfo(np.int64).max)
    missing = nxt >= s + bar.value
    gaps = []
    if missing.any():
        idx = np.flatnonzero(missing)
        # Split runs where consecutive missing slots are not neighbours in the slot list.
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        for run in np.split(idx, breaks):
            first, last = slots[run[0]], slots[run[-1]]
            gaps.append({"start": _iso(first), "end": _iso(last + bar), "bars": int(len(run))})
    return len(slots), gaps


# ---- spikes -----------------------------------------------------------------------------


def find_spikes(df: pd.DataFrame, timeframe: str, *, threshold: float = SPIKE_Z) -> list[dict]:
    """Bars whose close-to-close log return is ``threshold`` times the robust size of the
    returns around it (1.4826 × rolling median absolute return, which is one standard
    deviation for normal returns). Returns across a gap (more than one bar apart) are skipped,
    so a weekend opening jump is not a spike."""
    if "close" not in df.columns or len(df) < 20:
        return []
    close = df["close"].to_numpy(dtype="float64")
    ts = pd.DatetimeIndex(df.index).as_unit("ns").asi8
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(close))
    adjacent = np.diff(ts) == timeframe_seconds(timeframe) * 1_000_000_000
    r = np.where(adjacent & np.isfinite(r), r, np.nan)
    size = pd.Series(np.abs(r)).rolling(SPIKE_WINDOW, center=True, min_periods=20).median().to_numpy()
    scale = 1.4826 * size
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(r) / scale
    hits = np.flatnonzero((scale > 0) & (z > threshold))
    index = pd.DatetimeIndex(df.index)
    return [
        {"timestamp": _iso(index[i + 1]), "return_pct": round(float(r[i]) * 100, 4), "z": round(float(z[i]), 1)}
        for i in hits
    ]


# ---- the report -------------------------------------------------------------------------


def quality_report(
    df: pd.DataFrame,
    *,
    symbol: str,
    timeframe: str,
    start=None,
    end=None,
    now: datetime | None = None,
    problems: list[dict] | None = None,
    repaired: list[str] | None = None,
) -> dict:
    """The quality of ``df`` (sorted, de-duplicated) over [start, end).

    ``completeness_score`` (0–100) = 100 × share of expected bars present, minus 2 points per
    spike (at most 20) and minus the share of rows that had problems (in percent, at most 30).
    ``missing_bar_pct`` is in percent; ``age_hours`` is from the last bar's start to ``now``.
    """
    now_ts = _utc(now) if now is not None else pd.Timestamp.now(tz="UTC")
    index = pd.DatetimeIndex(df.index)
    if start is None:
        start = index[0] if len(index) else now_ts
    if end is None:
        end = (index[-1] + pd.Timedelta(seconds=timeframe_seconds(timeframe))) if len(index) else now_ts
    expected, gaps, spikes = _gaps_and_spikes(df, index, symbol, timeframe, start, end)
    missing = sum(g["bars"] for g in gaps)
    problems = problems or []
    missing_pct = 100.0 * missing / expected if expected else 0.0
    problem_rows = len({p["row"] for p in problems})
    problem_pct = 100.0 * problem_rows / max(1, len(df) + problem_rows)
    score = 100.0 - missing_pct - min(20.0, 2.0 * len(spikes)) - min(30.0, problem_pct)
    largest = max(gaps, key=lambda g: g["bars"]) if gaps else None
    last_bar = index[-1] if len(index) else None
    return {
        "checked_at": _iso(now_ts),
        "calendar": CALENDAR_NAMES[market_calendar(symbol)],
        "window": {"start": _iso(_utc(start)), "end": _iso(_utc(end))},
        "rows": int(len(df)),
        "first_bar": _iso(index[0]) if len(index) else None,
        "last_bar": _iso(last_bar) if last_bar is not None else None,
        "expected_bars": int(expected),
        "missing_bars": int(missing),
        "missing_bar_pct": round(missing_pct, 3),
        "gaps": {"count": len(gaps), "largest": largest, "items": gaps[:MAX_LISTED]},
        "freshness": {
            "last_bar": _iso(last_bar) if last_bar is not None else None,
            "age_hours": round((now_ts - last_bar).total_seconds() / 3600, 2) if last_bar is not None else None,
        },
        "anomalies": {
            "spike_count": len(spikes),
            "spikes": spikes[:MAX_LISTED],
            "problem_count": len(problems),
            "problems": problems[:MAX_LISTED],
            "repaired": list(repaired or []),
        },
        "completeness_score": int(round(max(0.0, min(100.0, score)))),
    }


_SCANS: OrderedDict[tuple, tuple[int, list[dict], list[dict]]] = OrderedDict()
_SCANS_KEPT = 32
_SCANS_LOCK = threading.Lock()


def _gaps_and_spikes(df: pd.DataFrame, index: pd.DatetimeIndex, symbol: str, timeframe: str, start, end) -> tuple:
    """``find_gaps`` and ``find_spikes`` of these bars over this window, remembered for the last
    ``_SCANS_KEPT`` (bars, window) pairs of the process: every run of a sweep, and every run of
    a throughput test, reads the same window of the same market, and the two scans are most of
    a run's data step. The key holds a digest of the bars themselves (times and OHLCV), so
    other bars never share an entry (the engine's ``data_checksum``, which a run stores). Copies
    are returned: the caller may change its lists."""
    bars = df if isinstance(df.index, pd.DatetimeIndex) else df.set_axis(index)
    key = (data_checksum(bars), len(df), symbol, timeframe, str(start), str(end))
    with _SCANS_LOCK:
        found = _SCANS.get(key)
        if found is not None:
            _SCANS.move_to_end(key)
    if found is None:
        expected, gaps = find_gaps(index, symbol, timeframe, start, end)
        found = (expected, gaps, find_spikes(df, timeframe))
        with _SCANS_LOCK:
            _SCANS[key] = found
            while len(_SCANS) > _SCANS_KEPT:
                _SCANS.popitem(last=False)
    expected, gaps, spikes = found
    return expected, copy.deepcopy(gaps), copy.deepcopy(spikes)


def quality_summary(report: dict) -> str:
    """One plain-language line, e.g. for a run's warnings."""
    parts = [f"Data quality {report['completeness_score']}/100"]
    if report["missing_bars"]:
        largest = report["gaps"]["largest"]
        parts.append(
            f"{report['missing_bar_pct']:.1f}% of expected bars missing in "
            f"{report['gaps']['count']} gap(s), the largest {largest['start']} to {largest['end']}"
        )
    if report["anomalies"]["spike_count"]:
        parts.append(
            f"{report['anomalies']['spike_count']} price spike(s) flagged, the first at "
            f"{report['anomalies']['spikes'][0]['timestamp']}"
        )
    if report["anomalies"]["problem_count"]:
        parts.append(f"{report['anomalies']['problem_count']} bad row(s) left out")
    return "; ".join(parts) + "."


def _utc(moment) -> pd.Timestamp:
    ts = pd.Timestamp(moment)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _iso(ts) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").isoformat() if pd.Timestamp(ts).tzinfo else pd.Timestamp(ts).isoformat()
