"""The V5 ICT strategy: a trader-level configuration compiled to V4 decision blocks, so V4 and
V5 share one engine.

A long setup (a short one mirrors it) reads, in order:

1. higher-timeframe bias (optional): ``htf_filter`` of ``market_structure_shift`` on e.g. 4h,
   computed only from completed higher-timeframe bars, is bullish;
2. market structure on the run's timeframe is bullish (a break of structure / change of
   character up happened and has not been undone);
3. liquidity (optional; default on for the breaker model): the last liquidity sweep took sell-side
   liquidity (a wick below a swing low or equal lows that closed back above);
4. premium/discount (optional): price is in the discount half of the dealing range;
5. the entry model: price trades inside an active bullish fair value gap, order block, or breaker
   block, and the next bar's open is the fill;
6. the stop sits beyond the zone (its bottom) or beyond the last confirmed swing low, plus a
   buffer in percent; the target is an R multiple or the opposing liquidity (the last confirmed
   swing high); at most N trades per New York trading day (17:00 to 17:00 New York time);
7. ``marketContext.session`` (e.g. ``london_open``) restricts entries to a session or kill zone.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from marketdata.timeframes import TIMEFRAME_SECONDS
from qm_platform.errors import CodedError

ENTRY_MODULES = {"fvg": "fair_value_gaps", "order_block": "order_blocks", "breaker": "breaker_blocks"}
HTF_CHOICES = ["15m", "30m", "1h", "4h", "1d"]


class SwingSerializer(serializers.Serializer):
    left = serializers.IntegerField(min_value=1, max_value=50, default=5)
    right = serializers.IntegerField(min_value=1, max_value=50, default=5)


class HtfBiasSerializer(serializers.Serializer):
    timeframe = serializers.ChoiceField(choices=HTF_CHOICES, default="4h")
    swing = SwingSerializer(required=False, help_text="Swing size on the higher timeframe (default 3/3).")


class StopSerializer(serializers.Serializer):
    placement = serializers.ChoiceField(
        choices=["zone", "swing"],
        default="zone",
        help_text="zone: beyond the entry zone; swing: beyond the last swing.",
    )
    bufferPct = serializers.FloatField(
        min_value=0, max_value=10, default=0.05, help_text="Extra distance beyond the level, percent of price."
    )


class TargetSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["r", "liquidity"],
        default="r",
        help_text="r: a multiple of the stop distance; liquidity: the opposing swing.",
    )
    value = serializers.FloatField(min_value=0.1, max_value=50, default=2.0, help_text="R multiple (type r).")


class IctSerializer(serializers.Serializer):
    """The ICT configuration of a V5 request (``"kind": "ict"``)."""

    entryModel = serializers.ChoiceField(choices=list(ENTRY_MODULES), default="fvg")
    htfBias = HtfBiasSerializer(required=False, allow_null=True)
    requireMss = serializers.BooleanField(default=True)
    requireSweep = serializers.BooleanField(required=False, help_text="Default: true for the breaker model.")
    premiumDiscount = serializers.BooleanField(default=True)
    swing = SwingSerializer(required=False)
    stop = StopSerializer(required=False)
    target = TargetSerializer(required=False)
    maxTradesPerSession = serializers.IntegerField(min_value=1, max_value=20, required=False, allow_null=True)


class V5MarketContextSerializer(serializers.Serializer):
    market = serializers.RegexField(r"^[A-Za-z0-9._\-=^]{1,32}$")
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAME_SECONDS))
    direction = serializers.ChoiceField(choices=["Long", "Short"], default="Long")
    testPeriod = serializers.CharField(required=False)
    startDate = serializers.DateTimeField(required=False)
    endDate = serializers.DateTimeField(required=False)
    session = serializers.CharField(required=False, allow_blank=True)
    dataSource = serializers.JSONField(required=False)


class V5RequestSerializer(serializers.Serializer):
    """A V5 ICT backtest request."""

    kind = serializers.ChoiceField(choices=["ict"])
    marketContext = V5MarketContextSerializer()
    ict = IctSerializer(required=False)
    costs = serializers.DictField(required=False)
    sizing = serializers.DictField(required=False)
    initialCapital = serializers.FloatField(required=False, min_value=1, max_value=1e12)
    strategyName = serializers.CharField(required=False, max_length=200)
    cache = serializers.BooleanField(required=False)
    benchmark = serializers.JSONField(required=False, allow_null=True, help_text="As in the V4 request.")


def _condition(label: str, module: str, config: dict, output: str | None, value: Any) -> dict:
    cfg = dict(config)
    if output:
        cfg["output"] = output
    cfg.update(operator="==", value=value)
    return {"label": label, "moduleId": module, "selected": True, "config": cfg}


def compile_ict(body: dict) -> dict:
    """A V5 body → the equivalent V4 body. Raises CodedError INVALID_REQUEST."""
    serializer = V5RequestSerializer(data=body)
    if not serializer.is_valid():
        raise CodedError("INVALID_REQUEST", "The ICT request is invalid.", details={"fields": serializer.errors})
    ict = serializer.validated_data.get("ict") or IctSerializer(data={}).run_validation({})
    ctx = dict(body["marketContext"])
    long = ctx.get("direction", "Long") == "Long"
    side, opposite = ("bullish", "bearish") if long else ("bearish", "bullish")
    swing = dict(ict.get("swing") or {"left": 5, "right": 5})
    entry_module = ENTRY_MODULES[ict["entryModel"]]
    subs = []
    htf = ict.get("htfBias")
    if htf:
        htf_swing = dict(htf.get("swing") or {"left": 3, "right": 3})
        subs.append(
            _condition(
                f"{htf['timeframe']} market structure {side}",
                "htf_filter",
                {"module": "market_structure_shift", "timeframe": htf["timeframe"], "module_config": htf_swing},
                None,
                side,
            )
        )
    if ict["requireMss"]:
        subs.append(_condition(f"Market structure {side}", "market_structure_shift", swing, None, side))
    if ict.get("requireSweep", ict["entryModel"] == "breaker"):
        # The last sweep took the liquidity on the other side: sell-side lows for a long.
        subs.append(_condition("Liquidity swept first", "liquidity_sweep", swing, "last", side))
    if ict["premiumDiscount"]:
        subs.append(
            _condition(
                "In discount" if long else "In premium",
                "premium_discount_zones",
                swing,
                None,
                "discount" if long else "premium",
            )
        )
    entry_config = {} if entry_module == "fair_value_gaps" else swing
    subs.append(
        _condition(f"Inside a {side} {ict['entryModel'].replace('_', ' ')}", entry_module, entry_config, None, side)
    )

    stop = ict.get("stop") or {"placement": "zone", "bufferPct": 0.05}
    if stop["placement"] == "zone":
        stop_level = {"module": entry_module, "config": entry_config, "output": "bottom" if long else "top"}
    else:
        stop_level = {
            "module": "market_structure_shift",
            "config": swing,
            "output": "swing_low" if long else "swing_high",
        }
    target = ict.get("target") or {"type": "r", "value": 2.0}
    exit_ = {"stopLoss": {"unit": "level", "value": stop["bufferPct"], "level": stop_level}}
    if target["type"] == "r":
        exit_["takeProfit"] = {"unit": "r", "value": target["value"]}
    else:
        exit_["takeProfit"] = {
            "unit": "level",
            "level": {
                "module": "market_structure_shift",
                "config": swing,
                "output": "swing_high" if long else "swing_low",
            },
        }
    if ict.get("maxTradesPerSession"):
        exit_.update(
            maxTradesPerSession=ict["maxTradesPerSession"], sessionEnd="17:00", sessionTimezone="America/New_York"
        )
    v4 = {
        "marketContext": ctx,
        "decisionBlocks": [
            {
                "label": f"ICT {ict['entryModel'].replace('_', ' ')} setup ({opposite} invalidates)",
                "subConfirmations": subs,
            }
        ],
        "exit": exit_,
    }
    for key in ("costs", "sizing", "initialCapital", "strategyName", "cache", "benchmark"):
        if key in body:
            v4[key] = body[key]
    return v4
