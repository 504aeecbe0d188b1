"""Yahoo Finance through yfinance. No Django.

The product's market names map to Yahoo tickers (``SYMBOL_MAP``; anything else is passed as
a Yahoo ticker, e.g. ``AAPL``). Yahoo keeps intraday bars only so far back, and serves 1m bars
at most 7 days per request; ``check_range`` enforces that before any call and says what is
possible. 4h bars are fetched as 1h and aggregated (Yahoo has no 4h interval).

Errors are classified for the manager: network failures, time-outs, 5xx pages and rate
limits are ``ProviderUnavailable`` (retried, counted by the circuit breaker); an unknown
ticker is ``SymbolNotFound``; a range Yahoo refuses is ``DataRangeUnavailable``.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from marketdata.progress import report
from marketdata.providers import DataRangeUnavailable, ProviderError, ProviderUnavailable, SymbolNotFound
from marketdata.resample import day_session_for, resample_ohlcv
from marketdata.timeframes import timeframe_seconds, utcnow

logger = logging.getLogger("qm.data")

SYMBOL_MAP = {
    # metals (COMEX front-month futures: Yahoo no longer quotes spot metals)
    "XAUUSD": "GC=F",
    "XAGUSD": "SI=F",
    # FX
    "EURUSD": "EURUSD=X",
    "GBPUSD": "GBPUSD=X",
    "USDJPY": "USDJPY=X",
    "AUDUSD": "AUDUSD=X",
    "USDCHF": "USDCHF=X",
    "USDCAD": "USDCAD=X",
    "NZDUSD": "NZDUSD=X",
    "EURJPY": "EURJPY=X",
    "GBPJPY": "GBPJPY=X",
    "EURGBP": "EURGBP=X",
    # crypto
    "BTCUSD": "BTC-USD",
    "ETHUSD": "ETH-USD",
    "SOLUSD": "SOL-USD",
    "XRPUSD": "XRP-USD",
    # cash indices
    "US30": "^DJI",
    "NAS100": "^NDX",
    "SPX500": "^GSPC",
    "GER40": "^GDAXI",
    "UK100": "^FTSE",
    "JPN225": "^N225",
    # energy
    "USOIL": "CL=F",
    "UKOIL": "BZ=F",
}


@dataclass(frozen=True)
class IntervalLimit:
    interval: str  # Yahoo's interval name
    max_days_back: int | None  # how far back from now Yahoo serves it (None: no limit)
    max_days_per_request: int | None


# From Yahoo's chart API behaviour (as documented by yfinance): 1m data only for the last
# ~30 days and at most 7-8 days per request; 2m-30m for the last 60 days; 1h for ~730 days.
LIMITS = {
    "1m": IntervalLimit("1m", 30, 7),
    "5m": IntervalLimit("5m", 60, None),
    "15m": IntervalLimit("15m", 60, None),
    "30m": IntervalLimit("30m", 60, None),
    "1h": IntervalLimit("1h", 730, None),
    "4h": IntervalLimit("1h", 730, None),
    "1d": IntervalLimit("1d", None, None),
}
# A request may start this much before the limit (e.g. '2mo' = 60 days ending at a bar
# boundary); the download then starts at the limit and the run is told what is missing.
GRACE = timedelta(days=1)
EDGE_MARGIN = timedelta(minutes=5)  # stay this far inside Yahoo's limit when clamping
CSV_HINT = "upload the data as a CSV dataset (POST /api/v1/datasets)"


def yahoo_ticker(symbol: str) -> str:
    """The Yahoo ticker of a market (``XAUUSD`` → ``GC=F``); unknown names pass through."""
    name = symbol.upper()
    return SYMBOL_MAP.get(name, name)


def check_range(timeframe: str, start: datetime, end: datetime, *, now: datetime | None = None) -> None:
    """Raise ``DataRangeUnavailable`` when Yahoo cannot serve ``timeframe`` bars for
    [start, end); the message says what is possible and suggests CSV upload."""
    limit = LIMITS.get(timeframe)
    if limit is None:
        raise DataRangeUnavailable(
            f"Yahoo Finance has no {timeframe} bars; use one of {list(LIMITS)} or {CSV_HINT}.",
            details={"timeframe": timeframe, "suggestion": CSV_HINT},
        )
    if limit.max_days_back is None:
        return
    now_ts = pd.Timestamp(now or utcnow())
    earliest = now_ts - pd.Timedelta(days=limit.max_days_back)
    start_ts = pd.Timestamp(start)
    if start_ts >= earliest - GRACE:
        return
    larger = [
        tf
        for tf, lim in LIMITS.items()
        if timeframe_seconds(tf) > timeframe_seconds(timeframe)
        and (lim.max_days_back is None or now_ts - pd.Timedelta(days=lim.max_days_back) <= start_ts)
    ]
    alternative = f", use a larger timeframe ({larger[0]} reaches back to {start_ts:%Y-%m-%d})" if larger else ""
    raise DataRangeUnavailable(
        f"Yahoo Finance serves {timeframe} bars for the last {limit.max_days_back} days only (from "
        f"{earliest:%Y-%m-%d %H:%M} UTC); the requested period starts {start_ts:%Y-%m-%d}. Shorten the "
        f"period to at most {limit.max_days_back} days{alternative}, or {CSV_HINT}.",
        details={
            "timeframe": timeframe,
            "max_days_back": limit.max_days_back,
            "earliest_start": earliest.isoformat(),
            "requested_start": start_ts.isoformat(),
            "larger_timeframes": larger,
            "suggestion": CSV_HINT,
        },
    )


class YahooProvider:
    """``download`` via yfinance. ``session`` (a requests or curl_cffi Session) and ``now``
    are injectable for tests; by default yfinance's own browser-like session is used."""

    name = "yahoo"
    live = True  # its latest bars change: the manager applies the freshness TTL

    _config_lock = threading.Lock()

    def __init__(
        self, *, session=None, timeout: float = 20, cache_dir: str | None = None, now: Callable[[], datetime] = utcnow
    ):
        import yfinance as yf

        self._yf = yf
        self.session = session
        self.timeout = timeout
        self.now = now
        with self._config_lock:
            yf.config.debug.hide_exceptions = False  # errors as exceptions, not log lines
            yf.config.network.retries = 0  # the manager retries, with backoff
            if cache_dir:
                yf.set_tz_cache_location(str(cache_dir))  # all of its caches

    def download(self, symbol: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        now = pd.Timestamp(self.now())
        check_range(timeframe, start, end, now=now)
        limit = LIMITS[timeframe]
        start_ts, end_ts = pd.Timestamp(start), min(pd.Timestamp(end), now + pd.Timedelta(minutes=1))
        clamped = None
        if limit.max_days_back is not None:
            earliest = now - pd.Timedelta(days=limit.max_days_back) + EDGE_MARGIN
            if start_ts < earliest:
                start_ts = clamped = earliest.ceil(f"{timeframe_seconds(timeframe)}s")
        ticker = yahoo_ticker(symbol)
        frames = []
        step = pd.Timedelta(days=limit.max_days_per_request) if limit.max_days_per_request else None
        chunk_start = start_ts
        while chunk_start < end_ts:
            report(int((chunk_start - start_ts) / (end_ts - start_ts) * 1000), 1000)  # may stop a cancelled run
            chunk_end = min(end_ts, chunk_start + step) if step else end_ts
            frames.append(self._history(ticker, limit.interval, chunk_start, chunk_end))
            chunk_start = chunk_end
        frame = pd.concat(frames) if frames else _empty()
        if timeframe == "4h" and len(frame):
            frame = resample_ohlcv(frame.sort_index(), "4h", day_session=day_session_for(symbol))
        if clamped is not None:
            frame.attrs["covered_start"] = clamped.isoformat()
            frame.attrs["note"] = (
                f"Yahoo Finance serves {timeframe} bars from {clamped:%Y-%m-%d %H:%M} UTC "
                f"only; the window starts {pd.Timestamp(start):%Y-%m-%d %H:%M} UTC."
            )
        return frame

    def _history(self, ticker: str, interval: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        yf = self._yf
        from yfinance.data import YfData
        from yfinance.exceptions import (
            YFDataException,
            YFException,
            YFPricesMissingError,
            YFRateLimitError,
            YFTzMissingError,
        )

        # yfinance memoises past-range responses, failures included; a retry must ask again.
        YfData.cache_get.cache_clear()
        try:
            with warnings.catch_warnings():
                # yfinance 1.7 still calls sort_index(inplace=True), deprecated in pandas 3.1.
                warnings.filterwarnings("ignore", message="The inplace keyword")
                raw = yf.Ticker(ticker, session=self.session).history(
                    start=start.to_pydatetime(),
                    end=end.to_pydatetime(),
                    interval=interval,
                    auto_adjust=False,
                    actions=False,
                    prepost=False,
                    repair=False,
                    timeout=self.timeout,
                )
        except YFRateLimitError as exc:
            raise ProviderUnavailable(
                f"Yahoo Finance rate-limited the request for {ticker}: {exc}",
                details={"ticker": ticker, "reason": "rate_limited"},
            ) from exc
        except YFTzMissingError as exc:
            raise SymbolNotFound(
                f"Yahoo Finance does not know {ticker!r} (no timezone; delisted or misspelt)",
                details={"ticker": ticker},
            ) from exc
        except YFPricesMissingError as exc:
            text = str(exc)
            if "not available for startTime" in text or "must be within" in text or "worth of" in text:
                raise DataRangeUnavailable(
                    f"Yahoo Finance refused the range: {text}",
                    details={"ticker": ticker, "interval": interval, "suggestion": CSV_HINT},
                ) from exc
            return _empty()  # no bars in the range (a weekend, a holiday)
        except YFDataException as exc:
            if "DOWN" in str(exc).upper():
                raise ProviderUnavailable(f"Yahoo Finance is down: {exc}", details={"ticker": ticker}) from exc
            raise ProviderError(
                f"Yahoo Finance answered unexpectedly for {ticker}: {exc}", details={"ticker": ticker}
            ) from exc
        except YFException as exc:
            raise ProviderError(f"yfinance failed for {ticker}: {exc}", details={"ticker": ticker}) from exc
        except ValueError as exc:  # a 5xx or captive-portal page is not JSON
            raise ProviderUnavailable(
                f"Yahoo Finance sent an unreadable answer for {ticker} ({exc})",
                details={"ticker": ticker, "reason": "bad_response"},
            ) from exc
        except Exception as exc:  # curl_cffi / requests HTTP errors, connection errors and time-outs
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status == 404:
                raise SymbolNotFound(
                    f"Yahoo Finance does not know {ticker!r} (HTTP 404)", details={"ticker": ticker}
                ) from exc
            if status is not None and status != 429 and status < 500:
                raise ProviderError(
                    f"Yahoo Finance refused the request for {ticker} (HTTP {status})",
                    details={"ticker": ticker, "status": status},
                ) from exc
            if _is_network_error(exc):
                raise ProviderUnavailable(
                    f"Yahoo Finance is unreachable: {type(exc).__name__}: {exc}",
                    details={"ticker": ticker, "reason": "network"},
                ) from exc
            raise
        return _normalise_yahoo(raw, interval)


def _normalise_yahoo(raw: pd.DataFrame, interval: str) -> pd.DataFrame:
    if raw is None or raw.empty:
        return _empty()
    out = pd.DataFrame(
        {
            "open": raw["Open"].astype("float64"),
            "high": raw["High"].astype("float64"),
            "low": raw["Low"].astype("float64"),
            "close": raw["Close"].astype("float64"),
            "volume": raw["Volume"].astype("float64") if "Volume" in raw else 0.0,
        }
    )
    index = pd.DatetimeIndex(raw.index)
    if interval == "1d":
        # Daily bars are labelled with the exchange's trading date; store that date at 00:00 UTC.
        index = pd.DatetimeIndex(index.tz_localize(None).normalize()).tz_localize("UTC")
    else:
        index = index.tz_convert("UTC")
    out.index = index.rename("timestamp")
    return out


def _is_network_error(exc: Exception) -> bool:
    if isinstance(exc, (OSError, TimeoutError, ConnectionError)):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {
            "ConnectionError",
            "Timeout",
            "ReadTimeout",
            "ConnectTimeout",
            "RequestException",
            "CurlError",
            "DNSError",
            "ProxyError",
            "SSLError",
            "HTTPError",
        }
    )


def _empty() -> pd.DataFrame:
    from marketdata.storage.base import empty_frame

    return empty_frame()
