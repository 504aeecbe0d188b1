"""A portfolio request: ``marketContext.markets`` and ``portfolio`` → the markets and the
engine's :class:`~backtests.engine.portfolio.PortfolioRules`. Every problem is a 400 naming the
field, raised by the request compiler before anything is saved."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from backtests.engine.portfolio import ALLOCATIONS, MAX_MARKETS, REBALANCES, PortfolioRules

from .parse import MAX_PYRAMIDING, _choice, _fail, _integer, _module_operand, _object

PORTFOLIO_KEYS = (
    "allocation",
    "weights",
    "maxOpenPositions",
    "maxPerMarket",
    "rankBy",
    "rebalance",
    "riskWindow",
    "onMissing",
)
ON_MISSING = ("fail", "skip")


def is_portfolio(body: Mapping[str, Any]) -> bool:
    """A body names several markets (``marketContext.markets``): one account over all of them."""
    context = body.get("marketContext")
    return isinstance(context, Mapping) and context.get("markets") is not None


def portfolio_markets(body: Mapping[str, Any], *, known: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The basket, upper-cased, in the order that breaks ranking ties. ``known``: the markets a
    data source has (the synthetic one), so an unknown name is refused with the close ones."""
    raw = body["marketContext"]["markets"]
    field = "marketContext.markets"
    if not isinstance(raw, list) or not raw:
        raise _fail(f"{field} must be a list of 1 to {MAX_MARKETS} markets", field)
    if len(raw) > MAX_MARKETS:
        raise _fail(f"{field} names {len(raw)} markets; a portfolio takes at most {MAX_MARKETS}", field)
    markets = tuple(str(m).upper() for m in raw)
    seen: set[str] = set()
    for i, market in enumerate(markets):
        if market in seen:
            raise _fail(f"{field} names {market} twice", f"{field}[{i}]", market=market)
        seen.add(market)
        if known is not None and market not in known:
            close = difflib.get_close_matches(market, list(known), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known markets: {', '.join(sorted(known))}"
            raise _fail(
                f"{field}[{i}]: {market} is not a market of this data source{hint}",
                f"{field}[{i}]",
                market=market,
                close_matches=close,
            )
    return markets


def portfolio_rules(body: Mapping[str, Any], markets: tuple[str, ...]) -> PortfolioRules:
    """``portfolio`` (optional: equal allocation, no cap, one position per market, no ranking,
    no rebalancing) checked against the basket."""
    cfg = _object(body.get("portfolio"), "portfolio", PORTFOLIO_KEYS)
    allocation = _choice(cfg.get("allocation", "equal"), "portfolio.allocation", ALLOCATIONS)
    weights = None
    if allocation == "weights":
        weights = _weights(cfg.get("weights"), markets)
    elif cfg.get("weights") is not None:
        raise _fail("portfolio.weights applies to allocation 'weights' only", "portfolio.weights")
    max_open = cfg.get("maxOpenPositions")
    if max_open is not None:
        max_open = _integer(max_open, "portfolio.maxOpenPositions", 1, MAX_MARKETS * MAX_PYRAMIDING)
    per_market = cfg.get("maxPerMarket")
    if per_market is not None:
        per_market = _integer(per_market, "portfolio.maxPerMarket", 1, MAX_PYRAMIDING)
    rank_by = None
    if cfg.get("rankBy") is not None:
        rank = _object(cfg["rankBy"], "portfolio.rankBy", ("module", "moduleId", "config", "output"))
        module_id = rank.get("module", rank.get("moduleId"))
        if not isinstance(module_id, str):
            raise _fail("portfolio.rankBy.module must name a module (e.g. roc)", "portfolio.rankBy.module")
        config = rank.get("config") or {}
        if not isinstance(config, Mapping):
            raise _fail("portfolio.rankBy.config must be an object", "portfolio.rankBy.config")
        rank_by = _module_operand(module_id, config, rank.get("output"), "portfolio.rankBy")
    rebalance = _choice(cfg.get("rebalance", "none"), "portfolio.rebalance", REBALANCES)
    window = cfg.get("riskWindow")
    window = 20 if window is None else _integer(window, "portfolio.riskWindow", 2, 1000)
    _choice(cfg.get("onMissing", "fail"), "portfolio.onMissing", ON_MISSING)
    return PortfolioRules(
        allocation=allocation,
        weights=weights,
        max_open_positions=max_open,
        max_per_market=per_market,
        rank_by=rank_by,
        rebalance=rebalance,
        risk_window=window,
    )


def _weights(raw: Any, markets: tuple[str, ...]) -> dict[str, float]:
    field = "portfolio.weights"
    if not isinstance(raw, Mapping) or not raw:
        raise _fail(f"{field} must map markets to fractions summing to 1 (allocation 'weights')", field)
    weights = dict.fromkeys(markets, 0.0)
    for key, value in raw.items():
        market = str(key).upper()
        if market not in weights:
            raise _fail(f"{field}.{key}: {key} is not one of marketContext.markets", f"{field}.{key}", market=key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise _fail(f"{field}.{key} must be a fraction from 0 to 1, got {value!r}", f"{field}.{key}")
        weights[market] = float(value)
    total = sum(weights.values())
    if abs(total - 1.0) > 1e-6:
        raise _fail(f"{field} must sum to 1, got {total:g}", field, total=total)
    return {m: w / total for m, w in weights.items()}


def on_missing(body: Mapping[str, Any]) -> str:
    """``fail``: a market without data fails the run; ``skip``: it runs without it, with a warning."""
    cfg = body.get("portfolio") or {}
    return cfg.get("onMissing", "fail") if isinstance(cfg, Mapping) else "fail"
