"""Checks of what the library saves: a body compiles as a submission would, tags are tidy."""

from __future__ import annotations

import copy
from typing import Any

from backtests.models import StrategyKind
from backtests.strategies.compile import request_compile
from backtests.strategies.portfolio import is_portfolio
from backtests.strategies.saved import names_saved_strategy
from backtests.strategies.templates import template_apply
from qm_platform.errors import CodedError

MAX_TAGS, MAX_TAG_LENGTH = 20, 40


def strategy_check_body(*, user, body: Any, field: str = "body") -> dict:
    """The body a strategy saves: a request body as POST /backtests takes it (inline V4 or V5; a
    ``template`` is applied, so the library holds a copy), checked by the one request compiler.
    Raises the compiler's CodedError (the same 400 as the body submitted) before anything is
    saved; a body that names a saved strategy is refused (no chains of references)."""
    if not isinstance(body, dict):
        raise CodedError("INVALID_REQUEST", f"{field} must be a request body (object)", details={"field": field})
    if names_saved_strategy(body):
        raise CodedError(
            "INVALID_REQUEST",
            "a saved strategy's body cannot name another saved strategy; save its body instead",
            details={"field": f"{field}.strategy"},
        )
    body = copy.deepcopy(body)
    body.pop("version", None)
    if "template" in body:
        template_id = body.pop("template")
        body = template_apply(template_id, body)
    request_compile(body, user=user)
    return body


def kind_of(body: dict) -> str:
    if is_portfolio(body):
        return StrategyKind.PORTFOLIO
    return StrategyKind.ICT if body.get("kind") == "ict" else StrategyKind.V4


def markets_of(body: dict) -> list[str]:
    """The markets a body trades: its market, or a portfolio's basket."""
    ctx = body.get("marketContext")
    if not isinstance(ctx, dict):
        return []
    raw = ctx.get("markets") if is_portfolio(body) else [ctx.get("market")]
    return [str(m).upper() for m in raw or [] if m]


def market_of(body: dict) -> str:
    """The strategy's ``market`` column: its market, or a portfolio's first market."""
    markets = markets_of(body)
    return markets[0][:32] if markets else ""


def clean_tags(tags: Any) -> list[str]:
    """Tags as stored: up to 20 distinct non-empty strings of at most 40 characters, in order."""
    if tags is None:
        return []
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise CodedError("INVALID_REQUEST", f"tags must be a list of at most {MAX_TAGS} strings", {"field": "tags"})
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > MAX_TAG_LENGTH:
            raise CodedError(
                "INVALID_REQUEST", f"each tag must be 1 to {MAX_TAG_LENGTH} characters", details={"field": "tags"}
            )
        if tag.strip() not in cleaned:
            cleaned.append(tag.strip())
    return cleaned


def compile_status(*, user, body) -> dict:
    """Whether ``body`` compiles for ``user`` today, and if not the compiler's reason."""
    try:
        request_compile(body, user=user)
    except CodedError as exc:
        return {"ok": False, "code": exc.code, "message": exc.message, "details": exc.details}
    return {"ok": True, "code": "", "message": "", "details": {}}
