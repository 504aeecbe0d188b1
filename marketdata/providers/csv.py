"""OHLCV from a CSV file (uploads and ``manage.py import_csv``). No Django.

Flexible on what people export: header names in any case (``Date``/``Time``/``Datetime``/
``timestamp``/``Gmt time``..., ``Open``/``High``/``Low``/``Close``/``Volume`` or ``o``/``h``/
``l``/``c``/``v``; separate ``Date`` and ``Time`` columns as MetaTrader writes them), the
separator (``,`` ``;`` tab ``|``), decimal commas with ``;``, ISO 8601 times with or without
an offset, ``2024.01.02 13:00`` and Unix epochs (seconds or milliseconds). Times without an
offset need an explicit ``tz``; there is no guessing. A missing volume column becomes 0.

Every problem is reported with its line number in the file (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from marketdata.timeframes import TIMEFRAME_SECONDS
from marketdata.validation import DataValidationError, find_problems, validate_ohlcv

TIME_NAMES = (
    "timestamp",
    "datetime",
    "date time",
    "date_time",
    "time",
    "date",
    "gmt time",
    "local time",
    "time (utc)",
    "datetime (utc)",
    "open time",
    "opentime",
    "ts",
)
ALIASES = {
    "open": ("open", "o", "open price", "opening price", "bid open"),
    "high": ("high", "h", "high price", "bid high"),
    "low": ("low", "l", "low price", "bid low"),
    "close": ("close", "c", "close price", "closing price", "last", "bid close"),
    "volume": ("volume", "vol", "v", "tick volume", "tickvol", "tick_volume", "real volume", "volume (units)"),
}
MAX_LISTED = 20
# Columns a file may have: a bar needs at most seven (date, time, OHLC, volume) and exports add a
# few (spread, tick count...). The header is checked against it before any row is parsed.
MAX_COLUMNS = 16
SNIFF_CHARS = 64 * 1024  # the separator is guessed from the first lines within this many characters


class CsvFormatError(DataValidationError):
    """The file cannot be read as OHLCV; ``problems`` are ``{"line", "message", ...}``."""


@dataclass
class ParsedCsv:
    frame: pd.DataFrame  # sorted, de-duplicated, valid bars, UTC index
    timeframe: str
    problems: list[dict] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    rows_read: int = 0


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", str(name).strip().strip('"').strip("<>").lower().replace("_", " "))


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _sniff_separator(text: str) -> str:
    sample = "\n".join(text[:SNIFF_CHARS].splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {sep: sample.count(sep) for sep in (",", ";", "\t", "|")}
        return max(counts, key=counts.get)


def _zone(tz: str | None):
    if not tz:
        return None
    if tz.upper() in ("UTC", "Z", "GMT"):
        return "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise CsvFormatError(
            f"unknown timezone {tz!r}; use an IANA name such as UTC or America/New_York",
            [{"line": None, "message": f"unknown timezone {tz!r}"}],
        ) from None
    return tz


def parse_csv(
    data: bytes | str, *, tz: str | None = None, timeframe: str | None = None, policy: str = "reject"
) -> ParsedCsv:
    """Parse and validate a CSV of bars. Raises ``CsvFormatError`` listing the first problems
    by line (under ``policy="reject"`` any problem; under ``"repair"`` only unreadable files:
    bad rows are then left out and reported, duplicates and order are repaired)."""
    zone = _zone(tz)
    text = _decode(data)
    if not text.strip():
        raise CsvFormatError("the file is empty", [{"line": 1, "message": "the file is empty"}])
    sep = _sniff_separator(text)
    _map_columns(_header(text, sep))  # refuses a bad header before any row is parsed
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            skipinitialspace=True,
            engine="c",
        )
    except (pd.errors.ParserError, ValueError) as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise CsvFormatError(
            f"the file is not a readable CSV: {exc}",
            [{"line": int(line.group(1)) if line else None, "message": str(exc)}],
        ) from None
    lines = np.arange(len(raw)) + 2  # row i of the frame is line i + 2 of the file
    blank = (raw.apply(lambda col: col.str.strip()) == "").all(axis=1).to_numpy() if len(raw) else np.array([], bool)
    raw, lines = raw[~blank].reset_index(drop=True), lines[~blank]
    mapping, time_cols = _map_columns(list(raw.columns))
    problems: list[dict] = []
    notes: list[str] = []
    if not len(raw):
        raise CsvFormatError("the file has a header but no rows", [{"line": 2, "message": "no data rows"}])

    stamps = _parse_times(raw, time_cols, zone, lines, problems)
    decimal_comma = sep == ";" and raw[mapping["close"]].str.contains(",", regex=False).any()
    values = {}
    for target in ("open", "high", "low", "close", "volume"):
        if target not in mapping:
            values[target] = np.zeros(len(raw))
            notes.append("the file has no volume column; volume is 0")
            continue
        col = raw[mapping[target]].str.strip()
        if decimal_comma:
            col = col.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        else:
            col = col.str.replace(",", "", regex=False)  # thousands separators
        numbers = pd.to_numeric(col, errors="coerce")
        bad = numbers.isna() & (col != "")
        for i in np.flatnonzero(bad.to_numpy())[: MAX_LISTED * 2]:
            problems.append(
                {
                    "line": int(lines[i]),
                    "column": mapping[target],
                    "message": f"{mapping[target]} {raw[mapping[target]].iloc[i]!r} is not a number",
                }
            )
        values[target] = numbers.to_numpy(dtype="float64", na_value=np.nan)
    frame = pd.DataFrame(values, index=pd.DatetimeIndex(stamps, name="timestamp"))

    # Rows with an unreadable time cannot be placed; the rest go through the row checks.
    readable = ~pd.isna(stamps)
    checked = frame[readable]
    checked_lines = lines[readable]
    for p in find_problems(checked):
        if p["check"] == "nan" and any(q["line"] == int(checked_lines[p["row"]]) for q in problems):
            continue  # already reported as 'not a number'
        problems.append(
            {
                "line": int(checked_lines[p["row"]]),
                "timestamp": p["timestamp"],
                "check": p["check"],
                "message": p["message"],
            }
        )
    problems.sort(key=lambda p: p["line"] or 0)
    if problems and policy == "reject":
        first = problems[0]
        raise CsvFormatError(
            f"{len(problems)} problem(s) in the file; the first on line {first['line']}: {first['message']}", problems
        )
    result = validate_ohlcv(checked, policy="repair")
    if result.frame.empty:
        raise CsvFormatError("no valid bars in the file", problems or [{"line": None, "message": "no valid bars"}])
    inferred = _infer_timeframe(result.frame.index)
    if timeframe and inferred and inferred != timeframe:
        raise CsvFormatError(
            f"the bars are {inferred} apart but the timeframe given is {timeframe}",
            [{"line": None, "message": f"most bars are {inferred} apart, not {timeframe}"}],
        )
    tf = timeframe or inferred
    if tf is None:
        raise CsvFormatError(
            "cannot tell the timeframe from the bar spacing; pass timeframe",
            [{"line": None, "message": "bar spacing is not one of " + ", ".join(TIMEFRAME_SECONDS)}],
        )
    unreadable = int((~readable).sum())
    repaired = list(dict.fromkeys(notes)) + result.repaired
    if unreadable:
        repaired.insert(0, f"left out {unreadable} row(s) with an unreadable time")
    return ParsedCsv(frame=result.frame, timeframe=tf, problems=problems, repaired=repaired, rows_read=len(raw))


_FIRST_LINE = re.compile(r"[^\r\n]*")


def _header(text: str, sep: str) -> list[str]:
    """The column names on line 1, refused when there are more than MAX_COLUMNS."""
    first = _FIRST_LINE.match(text).group(0)
    try:
        names = next(csv.reader([first], delimiter=sep, skipinitialspace=True), [])
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KB limit
        raise CsvFormatError(
            f"the header is not readable: {exc}", [{"line": 1, "message": f"the header is not readable: {exc}"}]
        ) from None
    if len(names) > MAX_COLUMNS:
        raise CsvFormatError(
            f"the header has {len(names):,} columns; a file may have at most {MAX_COLUMNS} "
            "(a time column, Open, High, Low, Close and Volume, and a few more)",
            [
                {
                    "line": 1,
                    "message": f"{len(names):,} columns; at most {MAX_COLUMNS}",
                    "columns": len(names),
                    "max_columns": MAX_COLUMNS,
                }
            ],
        )
    return names


def _map_columns(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """``({"open": <column>, ...}, [<time column(s)>])``; refuses a header without a time column
    or without one of Open/High/Low/Close."""
    columns = {_norm(c): c for c in names}
    mapping = {}
    for target, aliases in ALIASES.items():
        found = next((columns[n] for n in aliases if n in columns), None)
        if found is not None:
            mapping[target] = found
    time_cols = _time_columns(columns)
    absent = [c for c in ("open", "high", "low", "close") if c not in mapping]
    if absent or not time_cols:
        need = (["a time column (Date/Time/Datetime/timestamp)"] if not time_cols else []) + absent
        raise CsvFormatError(
            f"the header lacks {', '.join(need)}; found columns {names}",
            [{"line": 1, "message": f"missing column(s): {', '.join(need)}; found {names}"}],
        )
    return mapping, time_cols


def _time_columns(columns: dict[str, str]) -> list[str]:
    if "date" in columns and "time" in columns:
        return [columns["date"], columns["time"]]
    for name in TIME_NAMES:
        if name in columns:
            return [columns[name]]
    return []


_DOTTED_DATE = re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})")
# Bars are stored with nanosecond timestamps (valid 1677–2262); a market-data time outside
# these years is a typo or a wrong unit, reported on its line rather than overflowing.
EARLIEST, LATEST = pd.Timestamp("1900-01-01", tz="UTC"), pd.Timestamp("2200-01-01", tz="UTC")


def _out_of_range(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Rows whose (parsed, any unit) time falls outside [EARLIEST, LATEST)."""
    values = pd.Series(times)
    if values.dt.tz is None:
        values = values.dt.tz_localize("UTC")
    return (values.notna() & ((values < EARLIEST) | (values >= LATEST))).to_numpy()


def _parse_times(
    raw: pd.DataFrame, cols: list[str], zone: str | None, lines: np.ndarray, problems: list[dict]
) -> pd.DatetimeIndex:
    text = raw[cols[0]].str.strip()
    if len(cols) == 2:
        text = text + " " + raw[cols[1]].str.strip()
    text = text.str.replace(_DOTTED_DATE, r"\1-\2-\3", regex=True)
    if text.str.fullmatch(r"\d{9,13}(\.\d+)?").all():
        numbers = pd.to_numeric(text)
        unit = "ms" if numbers.abs().max() > 1e11 else "s"
        seconds = numbers / 1000 if unit == "ms" else numbers
        bad = (seconds < EARLIEST.timestamp()) | (seconds >= LATEST.timestamp())
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise CsvFormatError(
                f"epoch time {text.iloc[first]!r} ({unit}) is outside {EARLIEST.year}–{LATEST.year}",
                [
                    {"line": int(lines[i]), "message": f"epoch time {text.iloc[i]!r} is out of range"}
                    for i in np.flatnonzero(bad.to_numpy())[:MAX_LISTED]
                ],
            )
        return pd.DatetimeIndex(pd.to_datetime(numbers, unit=unit, utc=True))
    has_offset = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        aware = pd.to_datetime(text[has_offset], errors="coerce", utc=True, format="ISO8601")
        parsed[has_offset] = aware.mask(_out_of_range(aware)).astype("datetime64[ns, UTC]")
    naive_rows = ~has_offset
    if naive_rows.any():
        if zone is None:
            first = int(np.flatnonzero(naive_rows.to_numpy())[0])
            raise CsvFormatError(
                "the times have no timezone; pass tz (e.g. tz=UTC or tz=America/New_York)",
                [
                    {
                        "line": int(lines[first]),
                        "message": f"time {text.iloc[first]!r} has no timezone and no tz was given",
                    }
                ],
            )
        naive = pd.to_datetime(text[naive_rows], errors="coerce", format="ISO8601")
        retry = naive.isna() & (text[naive_rows] != "")
        if retry.any():
            naive[retry] = pd.to_datetime(text[naive_rows][retry], errors="coerce", format="mixed")
        local = pd.DatetimeIndex(naive.mask(_out_of_range(naive)))
        try:
            located = local.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC")
        except Exception as exc:  # pragma: no cover - zone was checked
            raise CsvFormatError(str(exc), [{"line": None, "message": str(exc)}]) from None
        for i in np.flatnonzero(local.notna() & located.isna()):
            row = int(np.flatnonzero(naive_rows.to_numpy())[i])
            problems.append(
                {
                    "line": int(lines[row]),
                    "message": f"time {text.iloc[row]!r} does not exist or is "
                    f"ambiguous in {zone} (a daylight saving change)",
                }
            )
        parsed[naive_rows] = located.as_unit("ns")
    for i in np.flatnonzero(parsed.isna().to_numpy())[: MAX_LISTED * 2]:
        if not any(p["line"] == int(lines[i]) for p in problems):
            problems.append({"line": int(lines[i]), "message": f"time {text.iloc[i]!r} is not a date and time"})
    return pd.DatetimeIndex(parsed)


def _infer_timeframe(index: pd.DatetimeIndex) -> str | None:
    if len(index) < 2:
        return None
    diffs = np.diff(index.as_unit("ns").asi8) // 1_000_000_000
    values, counts = np.unique(diffs, return_counts=True)
    mode = int(values[np.argmax(counts)])
    by_seconds = {s: tf for tf, s in TIMEFRAME_SECONDS.items()}
    if mode in by_seconds:
        return by_seconds[mode]
    if mode in (3 * 86400,) and "1d" in TIMEFRAME_SECONDS:  # weekends only, e.g. 3 bars
        return "1d"
    return None


class CsvFileProvider:
    """A CSV file as a provider: ``download`` returns its bars in [start, end)."""

    name = "csv"
    live = False

    def __init__(
        self, data: bytes | str, *, tz: str | None = None, timeframe: str | None = None, policy: str = "reject"
    ):
        self.parsed = parse_csv(data, tz=tz, timeframe=timeframe, policy=policy)

    def download(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        frame = self.parsed.frame
        return frame[(frame.index >= pd.Timestamp(start)) & (frame.index < pd.Timestamp(end))]
