"""Request shape and response shape. Meaning (modules, configs, conditions) is checked by the
service through the engine's strategy builder."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from backtests.engine import montecarlo as mc
from backtests.models import BacktestRun, Trade
from marketdata.timeframes import TIMEFRAME_SECONDS

# A symbol: letters, digits and . _ - = ^ (Yahoo's EURUSD=X, ^GSPC, BRK-B), starting with a
# letter, digit or ^ and never holding "..": it names files and object keys in the data store.
SYMBOL_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9^][A-Za-z0-9._\-=^]{0,31}$"
MAX_BLOCKS = 20  # decision blocks per list
MAX_CONDITIONS = 50  # sub-confirmations per block
MAX_LABEL = 200  # characters of a label or name


class MarketContextSerializer(serializers.Serializer):
    market = serializers.RegexField(
        SYMBOL_PATTERN, required=False, help_text="Symbol, e.g. XAUUSD, EURUSD, BTCUSD (or markets, a portfolio)."
    )
    markets = serializers.ListField(
        child=serializers.RegexField(SYMBOL_PATTERN),
        required=False,
        allow_empty=False,
        help_text="A portfolio: 1 to 50 symbols traded by one account (see the request's portfolio).",
    )
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAME_SECONDS))
    direction = serializers.ChoiceField(choices=["Long", "Short", "Both"], default="Long")
    testPeriod = serializers.CharField(required=False, max_length=16, help_text="1mo, 2mo, 6mo, 1y, 2y, 5y or max.")
    startDate = serializers.DateTimeField(required=False)
    endDate = serializers.DateTimeField(required=False)
    session = serializers.CharField(required=False, allow_blank=True, max_length=32)
    warmup = serializers.CharField(
        required=False,
        max_length=16,
        allow_blank=True,
        help_text=(
            "Data loaded before the window only to warm indicators up (5d, 2wk, 1mo): not traded, not measured."
        ),
    )
    dataSource = serializers.JSONField(required=False, help_text="'synthetic', 'yahoo' or a dataset id.")

    def validate(self, attrs):
        if ("market" in attrs) == ("markets" in attrs):
            raise serializers.ValidationError(
                {"market": ["give market (one market) or markets (a portfolio), exactly one of them"]}
            )
        return attrs


class SubConfirmationSerializer(serializers.Serializer):
    label = serializers.CharField(required=False, allow_blank=True, max_length=MAX_LABEL)
    moduleId = serializers.CharField(required=False, max_length=64)
    selected = serializers.BooleanField(default=True)
    config = serializers.DictField(required=False, default=dict)


class DecisionBlockSerializer(serializers.Serializer):
    label = serializers.CharField(required=False, allow_blank=True, max_length=MAX_LABEL)
    logic = serializers.ChoiceField(choices=["all", "any"], default="all")
    subConfirmations = SubConfirmationSerializer(many=True, max_length=MAX_CONDITIONS)


class BacktestRequestSerializer(serializers.Serializer):
    """The seed's V4 Decision Block request."""

    marketContext = MarketContextSerializer()
    decisionBlocks = DecisionBlockSerializer(many=True, allow_empty=False, max_length=MAX_BLOCKS)
    shortDecisionBlocks = DecisionBlockSerializer(
        many=True, required=False, max_length=MAX_BLOCKS, help_text="Short entries when direction is Both."
    )
    exitBlocks = DecisionBlockSerializer(
        many=True,
        required=False,
        max_length=MAX_BLOCKS,
        help_text="Close the position when these hold (next bar's open).",
    )
    shortExitBlocks = DecisionBlockSerializer(many=True, required=False, max_length=MAX_BLOCKS)
    exit = serializers.DictField(
        required=False,
        help_text=(
            "stopLoss / takeProfit (a number in percent, or {value, unit} with unit percent, atr, points, r "
            "or level), trailingStop, breakEvenAtR, maxBarsInTrade, closeAtSessionEnd, sessionEnd, "
            "sessionTimezone, exitOnOppositeSignal, sameBarPolicy, maxTradesPerSession, intrabar (a finer "
            "timeframe for the bar magnifier). See docs/engine.md."
        ),
    )
    costs = serializers.DictField(
        required=False,
        help_text=(
            "commissionPct, commissionFixed, commissionPerLot, commissionMin, spread, spreadUnit, slippage, "
            "slippageUnit, fromInstrument (the instrument's default spread and commission)."
        ),
    )
    account = serializers.DictField(
        required=False,
        help_text=(
            "leverage (most notional per unit of equity; default the instrument's 1 / margin rate), "
            "maintenanceMarginPct (liquidation level, % of the notional; default half the initial margin), "
            "financing (swap, borrow or funding; default true). See docs/engine.md."
        ),
    )
    sizing = serializers.DictField(
        required=False, help_text='e.g. {"moduleId": "fixed_fraction", "config": {"risk_pct": 1}, "pyramiding": 1}.'
    )
    quickTest = serializers.BooleanField(default=False)
    initialCapital = serializers.FloatField(required=False, min_value=1, max_value=1e12)
    strategyName = serializers.CharField(required=False, max_length=MAX_LABEL)
    cache = serializers.BooleanField(
        required=False, default=True, help_text="false: always run, even if an identical run succeeded."
    )
    portfolio = serializers.DictField(
        required=False,
        help_text=(
            "With marketContext.markets: allocation (equal, weights, risk_parity), weights {market: fraction}, "
            "maxOpenPositions, maxPerMarket, rankBy {module, config}, rebalance (none, daily, weekly), "
            "riskWindow, onMissing (fail, skip). See docs/engine.md, Portfolios."
        ),
    )
    benchmark = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text=(
            "What the run is measured against (alpha, beta, capture, rolling charts): by default buy-and-hold of "
            'the same market; a symbol ("SPX500", on the run\'s data source) or {"market": "SPX500", "dataSource": '
            '"synthetic" | "yahoo" | <dataset id>}.'
        ),
    )

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        return super().to_internal_value(data)

    def body(self) -> dict:
        """The request as submitted (validated shape), JSON-ready, unknown keys dropped."""
        raw = self.initial_data
        keep = (
            "marketContext",
            "decisionBlocks",
            "shortDecisionBlocks",
            "exitBlocks",
            "shortExitBlocks",
            "exit",
            "costs",
            "account",
            "quickTest",
            "initialCapital",
            "strategyName",
            "sizing",
            "cache",
            "benchmark",
            "portfolio",
        )
        return {k: raw[k] for k in keep if k in raw}


class SubmitResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    status_url = serializers.CharField()


class BacktestRunSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True, help_text="null until the run ends.")

    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "status",
            "progress",
            "stage",
            "market",
            "timeframe",
            "direction",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "metrics",
            "trade_count",
            "engine_version",
            "data_source",
            "data_start",
            "data_end",
            "bars",
            "data_checksum",
            "error",
            "report_error",
            "warnings",
            "cached",
            "cache_source",
            "attempts",
            "data_quality",
            "links",
            "request",
        ]

    def get_error(self, run) -> dict | None:
        if not run.error_code:
            return None
        return {"code": run.error_code, "message": run.error_message}

    def get_links(self, run) -> dict:
        request = self.context.get("request")

        def url(name):
            path = reverse(name, kwargs={"pk": run.id})
            return request.build_absolute_uri(path) if request else path

        links = {"self": url("backtest-detail"), "page": url("run-page")}
        if run.status == "SUCCEEDED":
            links["trades"] = url("backtest-trades")
            links["report_pdf"] = url("backtest-report-pdf")
            links["equity"] = url("backtest-equity")
            links["montecarlo"] = url("backtest-montecarlo")
            links["benchmark"] = url("backtest-benchmark")
        return links


class MonteCarloQuerySerializer(serializers.Serializer):
    """``GET /montecarlo`` settings; the defaults are what the worker stored with the run."""

    paths = serializers.IntegerField(
        min_value=1,
        max_value=mc.MAX_PATHS,
        default=mc.DEFAULT_PATHS,
        error_messages={"max_value": f"paths is capped at {mc.MAX_PATHS:,} ({mc.MAX_PATHS}) per request"},
        help_text=f"Number of simulated paths, 1 to {mc.MAX_PATHS:,}.",
    )
    method = serializers.ChoiceField(
        choices=list(mc.METHODS),
        default="bootstrap",
        help_text="bootstrap: draw the trades' returns with replacement; shuffle: reorder the same trades.",
    )
    seed = serializers.IntegerField(min_value=0, max_value=2**63 - 1, default=mc.DEFAULT_SEED)
    ruin = serializers.FloatField(
        min_value=0.01,
        max_value=100,
        default=mc.DEFAULT_RUIN_PCT,
        help_text="Ruin threshold: percent of the starting equity lost at any point.",
    )

    def settings(self) -> mc.MonteCarloSettings:
        data = self.validated_data
        return mc.MonteCarloSettings(
            paths=data["paths"], method=data["method"], seed=data["seed"], ruin_pct=data["ruin"]
        )


class BenchmarkFiguresSerializer(serializers.Serializer):
    """docs/metrics.md, "Benchmark": daily returns of the strategy and the benchmark, paired."""

    benchmark_return_pct = serializers.FloatField(allow_null=True, help_text="Buy-and-hold return, percent.")
    alpha_pct = serializers.FloatField(allow_null=True, help_text="Jensen's alpha, annualised, percent.")
    beta = serializers.FloatField(allow_null=True)
    correlation = serializers.FloatField(allow_null=True)
    tracking_error_pct = serializers.FloatField(allow_null=True, help_text="Annualised, percent.")
    information_ratio = serializers.FloatField(allow_null=True, help_text="Annualised.")
    up_capture_pct = serializers.FloatField(allow_null=True)
    down_capture_pct = serializers.FloatField(allow_null=True)
    benchmark_days = serializers.IntegerField(allow_null=True, help_text="Paired daily returns behind the figures.")


class RollingSerializer(serializers.Serializer):
    window_days = serializers.IntegerField(allow_null=True, help_text="Calendar days behind each point (90).")
    time = serializers.ListField(child=serializers.CharField(), help_text="ISO 8601 UTC, one per day.")
    sharpe = serializers.ListField(child=serializers.FloatField(allow_null=True), help_text="Annualised.")
    beta = serializers.ListField(child=serializers.FloatField(allow_null=True))


class BenchmarkSerializer(serializers.Serializer):
    """``GET /backtests/{id}/benchmark``: what the worker stored, never recomputed."""

    id = serializers.UUIDField()
    benchmark = serializers.CharField(allow_null=True, help_text="e.g. 'XAUUSD buy and hold'.")
    metrics = BenchmarkFiguresSerializer()
    initial_capital = serializers.FloatField()
    time = serializers.ListField(child=serializers.CharField(), help_text="The stored equity curve's times.")
    equity = serializers.ListField(child=serializers.FloatField(), help_text="Strategy equity, money.")
    benchmark_equity = serializers.ListField(
        child=serializers.FloatField(allow_null=True), help_text="The initial capital held in the benchmark, money."
    )
    rolling = RollingSerializer()


class TradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trade
        fields = [
            "seq",
            "market",
            "direction",
            "entry_time",
            "entry_price",
            "exit_time",
            "exit_price",
            "size",
            "gross_pnl",
            "pnl",
            "pnl_pct",
            "r_multiple",
            "fees",
            "commission",
            "spread_cost",
            "slippage_cost",
            "mae",
            "mfe",
            "mae_r",
            "mfe_r",
            "initial_stop",
            "initial_target",
            "risk",
            "financing",
            "requested_size",
            "exit_reason",
            "bars_held",
        ]
