"""Replaying recorded Yahoo Finance HTTP exchanges at the network edge.

yfinance runs unmodified over a ``requests.Session``; the ``responses`` library answers its
HTTP requests the way Yahoo does: the cookie (``fc.yahoo.com``), the crumb
(``/v1/test/getcrumb``) and the chart API (``/v8/finance/chart/<ticker>``), serving the bars of
a recording (``data/yahoo/<ticker>_<interval>.json.gz``) that fall in the requested
``period1``..``period2``, the 1-day probe yfinance uses to learn a ticker's timezone, and Yahoo's
404 answer for an unknown ticker. Switches simulate an outage: ``down`` (connection refused),
``status`` (e.g. 503 with Yahoo's HTML error page) or ``rate_limited`` (429).
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import requests
import responses

DATA = Path(__file__).resolve().parent / "data" / "yahoo"
CHART = re.compile(r"https://query[12]\.finance\.yahoo\.com/v8/finance/chart/.+")
QUOTE_SUMMARY = re.compile(r"https://query[12]\.finance\.yahoo\.com/v10/finance/quoteSummary/.+")
NOT_FOUND = {
    "chart": {"result": None, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}
}
ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>Yahoo</title></head><body><h1>Will be right back...</h1>"
    "<p>Thank you for your patience.</p></body></html>"
)


class YahooReplay:
    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock
        self.recordings: dict[tuple[str, str], dict] = {}
        self.down = False
        self.status: int | None = None
        self.rate_limited = False
        self.chart_calls: list[dict] = []  # the data requests (period1/period2), in order
        for path in DATA.glob("*.json.gz"):
            ticker, interval = path.name[: -len(".json.gz")].rsplit("_", 1)
            with gzip.open(path, "rt") as fh:
                self.recordings[(ticker, interval)] = json.load(fh)
        mock.add_callback(responses.GET, "https://fc.yahoo.com/", callback=self._cookie)
        mock.add_callback(responses.GET, "https://fc.yahoo.com", callback=self._cookie)
        mock.add_callback(
            responses.GET,
            re.compile(r"https://query[12]\.finance\.yahoo\.com/v1/test/getcrumb.*"),
            callback=self._crumb,
        )
        mock.add_callback(responses.GET, CHART, callback=self._chart)
        mock.add_callback(responses.GET, QUOTE_SUMMARY, callback=self._quote_summary)

    def session(self) -> requests.Session:
        return requests.Session()

    # ---- endpoints -------------------------------------------------------------------------
    def _outage(self):
        if self.down:
            return requests.exceptions.ConnectionError(
                "Failed to establish a new connection: [Errno 111] Connection refused"
            )
        if self.rate_limited:
            return (429, {"Content-Type": "text/plain"}, "Too Many Requests")
        if self.status:
            return (self.status, {"Content-Type": "text/html"}, ERROR_PAGE)
        return None

    def _cookie(self, request):
        outage = self._outage()
        if isinstance(outage, Exception):
            raise outage
        return (
            404,
            {
                "Set-Cookie": "A3=d=AQABBKy1; Expires=Sat, 20 Nov 2027 00:00:00 GMT; Max-Age=31557600; "
                "Domain=.yahoo.com; Path=/; SameSite=None; Secure; HttpOnly"
            },
            "",
        )

    def _crumb(self, request):
        outage = self._outage()
        if isinstance(outage, Exception):
            raise outage
        if outage:
            return outage
        return (200, {"Content-Type": "text/plain"}, "dC5Jx1qOlHu")

    def _chart(self, request):
        outage = self._outage()
        if isinstance(outage, Exception):
            raise outage
        if outage:
            return outage
        url = urlparse(request.url)
        ticker = unquote(url.path.rsplit("/", 1)[1])
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        interval = params.get("interval", "1d")
        candidates = [(t, i) for (t, i) in self.recordings if t == ticker]
        if not candidates:
            return (404, {"Content-Type": "application/json"}, json.dumps(NOT_FOUND))
        if params.get("range") == "1d":  # yfinance's timezone probe
            return (200, {"Content-Type": "application/json"}, json.dumps(self._slice(candidates[0], None, None, 1)))
        self.chart_calls.append({"ticker": ticker, **params})
        key = (ticker, interval)
        if key not in self.recordings:
            body = {
                "chart": {
                    "result": None,
                    "error": {
                        "code": "Bad Request",
                        "description": f"Invalid input - interval={interval} is not supported.",
                    },
                }
            }
            return (422, {"Content-Type": "application/json"}, json.dumps(body))
        body = self._slice(key, int(params["period1"]), int(params["period2"]))
        return (200, {"Content-Type": "application/json"}, json.dumps(body))

    def _quote_summary(self, request):
        ticker = unquote(urlparse(request.url).path.rsplit("/", 1)[1])
        body = {
            "quoteSummary": {
                "result": None,
                "error": {"code": "Not Found", "description": f"Quote not found for symbol: {ticker}"},
            }
        }
        return (404, {"Content-Type": "application/json"}, json.dumps(body))

    def _slice(self, key, period1, period2, last_n=None):
        data = copy.deepcopy(self.recordings[key])
        result = data["chart"]["result"][0]
        stamps = result["timestamp"]
        if last_n:
            keep = list(range(len(stamps)))[-last_n:]
        else:
            keep = [i for i, t in enumerate(stamps) if period1 <= t < period2]
        result["timestamp"] = [stamps[i] for i in keep]
        for name in ("quote", "adjclose"):
            for block in result["indicators"].get(name, []):
                for column, values in block.items():
                    block[column] = [values[i] for i in keep]
        if not keep:
            # Yahoo answers an empty period with the meta block and no timestamps.
            result.pop("timestamp")
            result["indicators"] = {"quote": [{}]}
        return data
