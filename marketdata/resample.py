"""Building higher timeframes from lower ones (1m → 5m, 15m, 30m, 1h, 4h, 1d). No Django.

OHLCV aggregation: open = first, high = max, low = min, close = last, volume = sum, over
left-closed, left-labelled bins; a bin with no source bar produces no row (a closed market
stays closed, nothing is forward-filled).

Intraday bins (and UTC days) are aligned to 00:00 UTC and computed by the shared
``modules.common.resample`` (the mtf module's aggregation), so both layers build the same
bars. Daily bins here are also session-aware: the day a bar belongs
to depends on where its market's trading day ends (see ``DAY_SESSIONS``):

- ``"utc"``: midnight UTC (crypto, and the default);
- ``"fx"``: 17:00 New York, the FX and metals convention, so Sunday evening's bars open
  Monday's daily bar and the daily close follows New York daylight saving time;
- an IANA zone name (``"America/New_York"``): midnight in that zone (exchange-traded indices).

Daily bars are labelled with the trading day's date at 00:00 UTC, the label daily data
from providers carries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata.timeframes import timeframe_seconds
from modules.common.resample import resample_ohlcv as common_resample

OHLCV = ["open", "high", "low", "close", "volume"]
_AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}

# Where each market's trading day ends, for daily bars.
DAY_SESSIONS = {
    "XAUUSD": "fx",
    "XAGUSD": "fx",
    "EURUSD": "fx",
    "GBPUSD": "fx",
    "USDJPY": "fx",
    "AUDUSD": "fx",
    "USDCHF": "fx",
    "USDCAD": "fx",
    "NZDUSD": "fx",
    "EURJPY": "fx",
    "GBPJPY": "fx",
    "EURGBP": "fx",
    "BTCUSD": "utc",
    "ETHUSD": "utc",
    "US30": "America/New_York",
    "NAS100": "America/New_York",
    "SPX500": "America/New_York",
    "GER40": "Europe/Berlin",
    "UK100": "Europe/London",
    "JPN225": "Asia/Tokyo",
}
FX_DAY_END = pd.Timedelta(hours=17)  # 17:00 America/New_York


def day_session_for(symbol: str) -> str:
    """The daily-bar convention of a symbol (``"fx"``, ``"utc"`` or an IANA zone)."""
    return DAY_SESSIONS.get(symbol.upper().split("@", 1)[0], "utc")


def can_resample(source_timeframe: str, target_timeframe: str) -> bool:
    """True when ``target`` is a whole multiple of ``source`` (1m → 1h yes, 1h → 15m no)."""
    src, dst = timeframe_seconds(source_timeframe), timeframe_seconds(target_timeframe)
    return dst >= src and dst % src == 0


def resample_ohlcv(df: pd.DataFrame, timeframe: str, *, day_session: str = "utc") -> pd.DataFrame:
    """Aggregate an OHLCV frame with a UTC DatetimeIndex to ``timeframe``.

    Columns other than OHLCV are dropped; missing OHLCV columns are simply not produced (a
    close-only frame resamples to a close-only frame). The input is not modified.
    """
    seconds = timeframe_seconds(timeframe)
    columns = [c for c in OHLCV if c in df.columns]
    if not isinstance(df.index, pd.DatetimeIndex) or df.index.tz is None:
        raise ValueError("resample_ohlcv needs a timezone-aware DatetimeIndex")
    if df.empty:
        return df[columns].copy()
    data = df[columns]
    if seconds > 86400:
        raise ValueError(f"cannot resample to {timeframe}: multi-day bars are not supported")
    if seconds < 86400 or day_session == "utc":
        out = common_resample(data.sort_index(), timeframe)
        out.index = out.index.as_unit("ns").rename("timestamp")
        return out
    labels = _trading_days(data.index, day_session)
    grouped = data.groupby(labels, sort=True)
    out = grouped.agg({c: _AGG[c] for c in columns})
    out.index = pd.DatetimeIndex(out.index, name="timestamp").as_unit("ns")
    if "volume" in out.columns:
        # A bin whose every volume is NaN stays NaN instead of becoming 0.
        has_volume = grouped["volume"].count()
        out.loc[has_volume.values == 0, "volume"] = np.nan
    return out


def _trading_days(index: pd.DatetimeIndex, day_session: str) -> pd.DatetimeIndex:
    """The trading day (as 00:00 UTC of its date) that each timestamp belongs to."""
    if day_session == "utc":
        local = index.tz_convert("UTC")
        shifted = local
    elif day_session == "fx":
        # A bar at or after 17:00 New York belongs to the next day's session.
        local = index.tz_convert("America/New_York")
        shifted = local + (pd.Timedelta(days=1) - FX_DAY_END)
    else:
        try:
            local = index.tz_convert(day_session)
        except Exception as exc:  # pytz/zoneinfo raise different types for an unknown zone
            raise ValueError(f"unknown day session {day_session!r}") from exc
        shifted = local
    days = shifted.tz_localize(None).normalize()
    return pd.DatetimeIndex(days).tz_localize("UTC")
