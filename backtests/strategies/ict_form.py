"""The V5 (ICT) builder's form fields ⇄ a V5 request body.

The page posts named fields (it works without JavaScript); ``ict_body_from_form`` turns them
into the V5 body that the API takes, and ``ict_form_values`` turns a body (the example or a
template) back into the fields' values. Values are passed on as typed, unchecked: the request
compiler validates them like any other request and the page shows its errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .sessions import SESSIONS
from .v5 import ENTRY_MODULES, HTF_CHOICES

SESSION_CHOICES = [("", "Any time"), ("Asia", "Asia"), ("London", "London"), ("New York", "New York")] + [
    (key, key.replace("_", " ").replace("ny ", "New York ").capitalize())
    for key in SESSIONS
    if key not in ("asia", "london", "new_york")
]
ENTRY_CHOICES = [("fvg", "Fair value gap"), ("order_block", "Order block"), ("breaker", "Breaker block")]
assert {key for key, _ in ENTRY_CHOICES} == set(ENTRY_MODULES)
HTF_FORM_CHOICES = [("", "No higher-timeframe bias"), *[(tf, f"{tf} market structure") for tf in HTF_CHOICES]]


def _number(raw: str) -> Any:
    """A typed number as int or float; anything else as typed (the compiler names the field)."""
    text = (raw or "").strip()
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def _checked(post: Mapping[str, Any], name: str) -> bool:
    return post.get(name) in ("on", "true", "1")


def ict_body_from_form(post: Mapping[str, Any]) -> dict:
    ctx: dict[str, Any] = {
        "market": (post.get("market") or "").strip().upper(),
        "timeframe": post.get("timeframe", ""),
        "direction": post.get("direction", "Long"),
        "testPeriod": post.get("testPeriod", ""),
    }
    if post.get("session"):
        ctx["session"] = post["session"]
    if post.get("dataSource"):
        ctx["dataSource"] = post["dataSource"]
    ict: dict[str, Any] = {
        "entryModel": post.get("entryModel", "fvg"),
        "htfBias": {"timeframe": post["htfBias"]} if post.get("htfBias") else None,
        "requireMss": _checked(post, "requireMss"),
        "requireSweep": _checked(post, "requireSweep"),
        "premiumDiscount": _checked(post, "premiumDiscount"),
        "stop": {"placement": post.get("stopPlacement", "zone"), "bufferPct": _number(post.get("stopBufferPct", ""))},
        "target": {"type": post.get("targetType", "r")},
    }
    if ict["target"]["type"] == "r":
        ict["target"]["value"] = _number(post.get("targetR", ""))
    if (post.get("maxTradesPerSession") or "").strip():
        ict["maxTradesPerSession"] = _number(post["maxTradesPerSession"])
    body: dict[str, Any] = {"kind": "ict", "marketContext": ctx, "ict": ict}
    if (post.get("strategyName") or "").strip():
        body["strategyName"] = post["strategyName"].strip()
    return body


def ict_form_values(body: Mapping[str, Any]) -> dict:
    """The form's initial values for a V5 body (missing settings take the API's defaults)."""
    ctx = body.get("marketContext") or {}
    ict = body.get("ict") or {}
    stop = ict.get("stop") or {}
    target = ict.get("target") or {}
    htf = ict.get("htfBias") or {}
    entry = ict.get("entryModel", "fvg")
    return {
        "market": ctx.get("market", "EURUSD"),
        "timeframe": ctx.get("timeframe", "15m"),
        "direction": ctx.get("direction", "Long"),
        "testPeriod": ctx.get("testPeriod", "3mo"),
        "session": ctx.get("session", ""),
        "dataSource": ctx.get("dataSource", "synthetic") if isinstance(ctx.get("dataSource"), str) else "synthetic",
        "entryModel": entry,
        "htfBias": htf.get("timeframe", "") if isinstance(htf, Mapping) else "",
        "requireMss": ict.get("requireMss", True),
        "requireSweep": ict.get("requireSweep", entry == "breaker"),
        "premiumDiscount": ict.get("premiumDiscount", True),
        "stopPlacement": stop.get("placement", "zone"),
        "stopBufferPct": stop.get("bufferPct", 0.05),
        "targetType": target.get("type", "r"),
        "targetR": target.get("value", 2.0),
        "maxTradesPerSession": ict.get("maxTradesPerSession") or "",
        "strategyName": body.get("strategyName", ""),
    }
