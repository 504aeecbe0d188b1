"""How the recorded Yahoo chart responses in this folder were written (kept for review; the
tests read the .json.gz files, they do not run this).

The machine that builds QuantMetrics has no internet, so the recordings are written in the
exact shape of Yahoo's chart API v8 answer (``GET https://query2.finance.yahoo.com/v8/finance/
chart/<TICKER>?period1=..&period2=..&interval=..``) as yfinance receives it: ``chart.result[0]``
with ``meta`` (exchange timezone, trading periods, valid ranges...), ``timestamp`` (Unix
seconds, bar start) and ``indicators.quote[0]`` (open/high/low/close/volume arrays, ``null``
where Yahoo has a hole), plus ``indicators.adjclose`` for daily bars. Prices follow the
instruments' late-November 2026 levels with a seeded random walk; sessions follow the venues
(FX 24/5 from Sunday 22:00 UTC, COMEX gold with its daily 22:00-23:00 UTC break, crypto 24/7,
the S&P 500 on NYSE days). The replay in ``marketdata/tests/yahoo_replay.py`` serves the bars
of a recording inside the requested period, as Yahoo does.

    python3 marketdata/tests/data/yahoo/make_recordings.py
"""

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
VALID_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]


def _walk(seed, n, start_price, vol):
    rng = np.random.default_rng(seed)
    close = start_price * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.concatenate(([start_price], close[:-1]))
    wick = np.abs(rng.normal(0, vol, (2, n))) * start_price
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    return open_, high, low, close, rng


def _day_periods(days, tz):
    out = []
    for day in days:
        start = pd.Timestamp(day, tz=tz)
        end = start + pd.Timedelta(days=1)
        offset = int(start.utcoffset().total_seconds())
        out.append(
            [
                {
                    "timezone": start.tzname(),
                    "start": int(start.timestamp()),
                    "end": int(end.timestamp()),
                    "gmtoffset": offset,
                }
            ]
        )
    return out


def recording(
    ticker, interval, index, ohlcv, *, tz, exchange, instrument, currency, digits, volume_zero=False, holes=()
):
    open_, high, low, close, v = ohlcv

    def arr(x):
        values = [round(float(a), digits) for a in x]
        for i in holes:
            values[i] = None
        return values

    volume = [0 if volume_zero else int(a) for a in v]
    for i in holes:
        volume[i] = None
    last = index[-1]
    local_days = sorted({ts.tz_convert(tz).date() for ts in index})
    cur = pd.Timestamp(local_days[-1], tz=tz)
    period = {
        "timezone": cur.tzname(),
        "start": int(cur.timestamp()),
        "end": int((cur + pd.Timedelta(days=1) - pd.Timedelta(minutes=1)).timestamp()),
        "gmtoffset": int(cur.utcoffset().total_seconds()),
    }
    meta = {
        "currency": currency,
        "symbol": ticker,
        "exchangeName": exchange,
        "fullExchangeName": exchange,
        "instrumentType": instrument,
        "firstTradeDate": 1070236800,
        "regularMarketTime": int(last.timestamp()),
        "hasPrePostMarketData": False,
        "gmtoffset": period["gmtoffset"],
        "timezone": period["timezone"],
        "exchangeTimezoneName": tz,
        "regularMarketPrice": round(float(close[-1]), digits),
        "fiftyTwoWeekHigh": round(float(max(high)), digits),
        "fiftyTwoWeekLow": round(float(min(low)), digits),
        "regularMarketDayHigh": round(float(high[-1]), digits),
        "regularMarketDayLow": round(float(low[-1]), digits),
        "regularMarketVolume": 0 if volume_zero else int(v[-1]),
        "longName": ticker,
        "shortName": ticker,
        "chartPreviousClose": round(float(open_[0]), digits),
        "priceHint": digits,
        "scale": 3,
        "currentTradingPeriod": {"pre": period, "regular": period, "post": period},
        "dataGranularity": interval,
        "range": "",
        "validRanges": VALID_RANGES,
    }
    if interval != "1d":
        meta["tradingPeriods"] = _day_periods(local_days, tz)
    result = {
        "meta": meta,
        "timestamp": [int(ts.timestamp()) for ts in index],
        "indicators": {
            "quote": [{"open": arr(open_), "high": arr(high), "low": arr(low), "close": arr(close), "volume": volume}]
        },
    }
    if interval == "1d":
        result["indicators"]["adjclose"] = [{"adjclose": arr(close)}]
    return {"chart": {"result": [result], "error": None}}


def fx_hours(start, end, freq):
    grid = pd.date_range(start, end, freq=freq, inclusive="left", tz="UTC")
    wk = grid.day_of_week
    hour = grid.hour
    open_ = ~((wk == 5) | ((wk == 4) & (hour >= 22)) | ((wk == 6) & (hour < 22)))
    return grid[open_]


def write(name, payload):
    with gzip.open(HERE / f"{name}.json.gz", "wt") as fh:
        json.dump(payload, fh, separators=(",", ":"))


def main():
    idx = fx_hours("2026-11-01", "2026-11-21", "1h")
    open_, high, low, close, rng = _walk(1, len(idx), 1.0530, 0.0009)
    write(
        "EURUSD=X_1h",
        recording(
            "EURUSD=X",
            "1h",
            idx,
            (open_, high, low, close, np.zeros(len(idx))),
            tz="Europe/London",
            exchange="CCY",
            instrument="CURRENCY",
            currency="USD",
            digits=5,
            volume_zero=True,
            holes=(37, 200),
        ),
    )
    idx = fx_hours("2026-11-15", "2026-11-21", "15min")
    idx = idx[~((idx.hour == 22) & (idx.day_of_week < 4))]  # COMEX daily maintenance break
    open_, high, low, close, rng = _walk(2, len(idx), 2650.0, 0.0011)
    volume = rng.integers(50, 3000, len(idx))
    write(
        "GC=F_15m",
        recording(
            "GC=F",
            "15m",
            idx,
            (open_, high, low, close, volume),
            tz="America/New_York",
            exchange="CMX",
            instrument="FUTURE",
            currency="USD",
            digits=1,
        ),
    )
    idx = pd.date_range("2026-11-12 12:00", "2026-11-21", freq="1min", inclusive="left", tz="UTC")
    open_, high, low, close, rng = _walk(3, len(idx), 97000.0, 0.0007)
    volume = rng.integers(0, 5_000_000, len(idx))
    write(
        "BTC-USD_1m",
        recording(
            "BTC-USD",
            "1m",
            idx,
            (open_, high, low, close, volume),
            tz="UTC",
            exchange="CCC",
            instrument="CRYPTOCURRENCY",
            currency="USD",
            digits=2,
        ),
    )
    days = pd.bdate_range("2026-06-01", "2026-11-21", tz="America/New_York")
    days = days[~days.strftime("%m-%d").isin(["07-03", "09-07", "11-26"])]  # NYSE holidays
    idx = pd.DatetimeIndex([d + pd.Timedelta(hours=9, minutes=30) for d in days]).tz_convert("UTC")
    open_, high, low, close, rng = _walk(4, len(idx), 5900.0, 0.008)
    volume = rng.integers(2_000_000_000, 5_000_000_000, len(idx))
    write(
        "^GSPC_1d",
        recording(
            "^GSPC",
            "1d",
            idx,
            (open_, high, low, close, volume),
            tz="America/New_York",
            exchange="SNP",
            instrument="INDEX",
            currency="USD",
            digits=2,
        ),
    )


if __name__ == "__main__":
    main()
