"""Request and response shapes for batches and schedules. The meaning (grid paths, windows,
limits, strategies) is checked by the services."""

from __future__ import annotations

from rest_framework import serializers

from batches.models import Batch, BatchMode, Schedule
from marketdata.timeframes import TIMEFRAME_SECONDS


class SampleSerializer(serializers.Serializer):
    n = serializers.IntegerField(min_value=1)
    seed = serializers.IntegerField(required=False, default=0)


class WalkForwardSerializer(serializers.Serializer):
    inSample = serializers.CharField(help_text="In-sample span, e.g. 6mo, 1y, 90d.")
    outOfSample = serializers.CharField(help_text="Out-of-sample span, e.g. 2mo.")
    step = serializers.CharField(required=False, help_text="Shift between windows (default: outOfSample).")
    anchored = serializers.BooleanField(
        required=False, default=False, help_text="true: every in-sample span starts at the data's start."
    )


class BatchRequestSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200, allow_blank=True)
    mode = serializers.ChoiceField(choices=BatchMode.values, default=BatchMode.GRID)
    strategy = serializers.JSONField(
        required=False,
        help_text="A backtest request body (V4/V5), or the id of one of your saved strategies "
        "(GET /api/v1/strategies; with `version` and `overrides`).",
    )
    version = serializers.JSONField(
        required=False,
        help_text='With a saved strategy: a version number, or "latest" (the default; a schedule then '
        "follows the strategy's new versions).",
    )
    template = serializers.CharField(required=False, max_length=64, help_text="A strategy template id.")
    overrides = serializers.DictField(
        required=False, help_text="Keys deep-merged over the template's (or the saved strategy's) body."
    )
    grid = serializers.DictField(
        child=serializers.ListField(allow_empty=False),
        required=False,
        help_text='Path → values, e.g. {"exit.takeProfit": [1.5, 2, 3]}.',
    )
    markets = serializers.ListField(child=serializers.CharField(max_length=32), required=False, allow_empty=False)
    timeframes = serializers.ListField(
        child=serializers.ChoiceField(choices=list(TIMEFRAME_SECONDS)), required=False, allow_empty=False
    )
    sample = SampleSerializer(required=False)
    objective = serializers.JSONField(
        required=False,
        help_text='sharpe, profit_factor, pvs, net_return, … or {"weights": {"sharpe": 1, "max_drawdown_pct": -0.05}}',
    )
    constraints = serializers.DictField(required=False, help_text='{"min_trades": 30, "max_drawdown_pct": 20}')
    walkForward = WalkForwardSerializer(required=False)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        return super().to_internal_value(data)

    def definition(self) -> dict:
        """The request as submitted (unknown keys dropped), for the service."""
        keep = (
            "name",
            "mode",
            "strategy",
            "version",
            "template",
            "overrides",
            "grid",
            "markets",
            "timeframes",
            "sample",
            "objective",
            "constraints",
            "walkForward",
        )
        return {k: self.initial_data[k] for k in keep if k in self.initial_data}


class BatchSubmitResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    status_url = serializers.CharField()
    stage = serializers.CharField(help_text="creating_runs: a task is saving the runs; running: they all exist.")
    planned_runs = serializers.IntegerField()
    runs = serializers.IntegerField(help_text="Runs saved so far (0 while a task creates a large batch's runs).")
    cached = serializers.IntegerField()


class BatchListSerializer(serializers.ModelSerializer):
    class Meta:
        model = Batch
        fields = [
            "id",
            "name",
            "mode",
            "status",
            "stage",
            "schedule",
            "strategy",
            "strategy_version",
            "combination_count",
            "planned_runs",
            "drift_alert",
            "created_at",
            "finished_at",
        ]


class BatchDetailSerializer(serializers.ModelSerializer):
    """The batch with its live state; ``counts``, ``progress``, ``results`` and ``links``
    come from the view's context (selectors)."""

    counts = serializers.SerializerMethodField()
    created_runs = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    eta_seconds = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = Batch
        fields = [
            "id",
            "name",
            "mode",
            "status",
            "stage",
            "schedule",
            "strategy",
            "strategy_version",
            "combination_count",
            "planned_runs",
            "created_runs",
            "counts",
            "progress",
            "eta_seconds",
            "created_at",
            "finished_at",
            "definition",
            "windows",
            "summary",
            "drift",
            "drift_alert",
            "warnings",
            "error",
            "report_error",
            "results",
            "links",
        ]

    def get_counts(self, batch) -> dict:
        return self.context["counts"]

    def get_created_runs(self, batch) -> int:
        """Runs saved so far; below ``planned_runs`` while ``stage`` is creating_runs (and, for
        walk-forward, until every window has its out-of-sample run)."""
        return sum(n for status, n in self.context["counts"].items() if status != "cached")

    def get_progress(self, batch) -> float:
        return self.context["progress"]["progress"]

    def get_eta_seconds(self, batch) -> float | None:
        return self.context["progress"]["eta_seconds"]

    def get_results(self, batch) -> dict:
        return self.context["results"]

    def get_links(self, batch) -> dict:
        return self.context["links"]

    def get_error(self, batch) -> dict | None:
        return {"code": batch.error_code, "message": batch.error_message} if batch.error_code else None


class ScheduleSerializer(serializers.ModelSerializer):
    """Create and update a schedule; ``timezone`` is an IANA name, ``cron`` five fields."""

    recent_batches = serializers.SerializerMethodField()

    class Meta:
        model = Schedule
        fields = [
            "id",
            "name",
            "definition",
            "strategy",
            "cron",
            "interval_seconds",
            "timezone",
            "enabled",
            "last_fired_at",
            "last_error",
            "created_at",
            "updated_at",
            "recent_batches",
        ]
        read_only_fields = [
            "id",
            "strategy",
            "last_fired_at",
            "last_error",
            "created_at",
            "updated_at",
            "recent_batches",
        ]
        extra_kwargs = {"cron": {"required": False}, "interval_seconds": {"required": False}}

    def validate_definition(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a batch request (object)")
        return value

    def get_recent_batches(self, schedule) -> list[dict]:
        return [
            {
                "id": str(b.id),
                "status": b.status,
                "created_at": b.created_at,
                "drift_alert": b.drift_alert,
                "drift": b.drift,
            }
            for b in schedule.batches.order_by("-created_at")[:5]
        ]
