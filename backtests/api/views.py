"""Backtest API: validate → service → serialize."""

from __future__ import annotations

import csv
import io
import json

from django.db import transaction
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.services import audit_record
from backtests import selectors, services
from backtests.api.serializers import (
    BacktestRequestSerializer,
    BacktestRunSerializer,
    BenchmarkSerializer,
    MonteCarloQuerySerializer,
    SubmitResponseSerializer,
    TradeSerializer,
)
from backtests.models import Artifact, StrategyTemplate
from backtests.strategies.v5 import V5RequestSerializer
from plans.throttles import SUBMIT_THROTTLES
from qm_platform import artifacts
from qm_platform.errors import CodedError
from qm_platform.parsers import UUID_PATTERN

EXAMPLE_V4 = {
    "marketContext": {"market": "XAUUSD", "timeframe": "15m", "direction": "Long", "testPeriod": "2mo"},
    "decisionBlocks": [
        {
            "label": "Momentum",
            "subConfirmations": [
                {
                    "label": "RSI",
                    "moduleId": "rsi",
                    "selected": True,
                    "config": {"period": 14, "operator": "<", "value": 30},
                }
            ],
        }
    ],
    "exit": {"stopLoss": 1.0, "takeProfit": 2.0},
    "quickTest": False,
}


EXAMPLE_V5 = {
    "kind": "ict",
    "marketContext": {
        "market": "EURUSD",
        "timeframe": "15m",
        "direction": "Long",
        "testPeriod": "3mo",
        "session": "london_open",
    },
    "ict": {
        "entryModel": "fvg",
        "htfBias": {"timeframe": "4h"},
        "requireMss": True,
        "premiumDiscount": True,
        "stop": {"placement": "zone", "bufferPct": 0.03},
        "target": {"type": "r", "value": 2.0},
        "maxTradesPerSession": 1,
    },
}
EXAMPLE_TEMPLATE = {
    "template": "rsi_mean_reversion",
    "marketContext": {"market": "GBPUSD", "testPeriod": "1y"},
    "exit": {"takeProfit": 3.0},
}


class TemplateRequestSerializer(serializers.Serializer):
    """Run a stored template; any other key deep-merges over the template's body."""

    template = serializers.SlugField(help_text="A template id from GET /api/v1/templates.")


class SavedStrategyRequestSerializer(serializers.Serializer):
    """Run a saved strategy (``GET /api/v1/strategies``); any other key deep-merges over the
    version's body, e.g. ``{"marketContext": {"market": "GBPUSD"}}``."""

    strategy = serializers.IntegerField(min_value=1, help_text="The id of one of your saved strategies.")
    version = serializers.IntegerField(min_value=1, required=False, help_text="Default: the latest version.")
    marketContext = serializers.DictField(required=False, help_text="Keys replacing the saved marketContext's.")


class PdfRenderer(renderers.BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Only errors reach a renderer (the PDF itself is a FileResponse): keep them JSON.
        return json.dumps(data).encode() if isinstance(data, (dict, list)) else data


class EquityCsvRenderer(renderers.BaseRenderer):
    """``GET /equity?format=csv``: one row per point, ``time,equity,drawdown_pct``."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not (isinstance(data, dict) and "equity" in data and "time" in data):
            return json.dumps(data).encode()  # an error keeps the one JSON error shape
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["time", "equity", "drawdown_pct"])
        writer.writerows(zip(data["time"], data["equity"], data["drawdown_pct"]))
        return out.getvalue().encode()


def _succeeded(run):
    if run.status != "SUCCEEDED":
        raise CodedError(
            "INVALID_STATE",
            f"the run is {run.status}; results exist once it has SUCCEEDED",
            details={"status": run.status},
        )
    return run


class BacktestViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = BacktestRunSerializer
    lookup_value_regex = UUID_PATTERN

    def get_throttles(self):
        if self.action == "create":  # submissions: the plan's rate per user, and per address
            return [throttle() for throttle in SUBMIT_THROTTLES]
        return super().get_throttles()

    def get_queryset(self):
        return selectors.backtest_list_for_user(user=self.request.user)

    def get_object(self):
        run = selectors.backtest_get_for_user(user=self.request.user, run_id=self.kwargs["pk"])
        if run is None:
            raise CodedError("NOT_FOUND", "No backtest with this id.")
        return run

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="BacktestSubmission",
            resource_type_field_name=None,
            serializers=[
                BacktestRequestSerializer,
                V5RequestSerializer,
                TemplateRequestSerializer,
                SavedStrategyRequestSerializer,
            ],
        ),
        examples=[
            OpenApiExample("V4: RSI dip", value=EXAMPLE_V4),
            OpenApiExample("V5: London open FVG (ICT)", value=EXAMPLE_V5),
            OpenApiExample("Template with overrides", value=EXAMPLE_TEMPLATE),
            OpenApiExample(
                "Saved strategy, version 2, on another market",
                value={"strategy": 12, "version": 2, "marketContext": {"market": "GBPUSD"}},
            ),
        ],
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Same key, same user: the original run is returned (200).",
            )
        ],
        responses={
            202: SubmitResponseSerializer,
            200: OpenApiResponse(SubmitResponseSerializer, description="Idempotent replay or result-cache hit"),
            404: OpenApiResponse(description="NOT_FOUND: the saved strategy (or its version) is not one of yours"),
        },
    )
    def create(self, request):
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 128:
            raise CodedError(
                "INVALID_REQUEST",
                "Idempotency-Key must be at most 128 characters",
                details={"field": "Idempotency-Key"},
            )
        replay = key and selectors.backtest_get_by_idempotency_key(user=request.user, key=key)
        with transaction.atomic():  # the run and its audit entry: one commit (the dispatch follows it)
            run = replay or services.backtest_submit(
                user=request.user,
                body=request.data,
                idempotency_key=key,
                plan=getattr(request, "submit_plan", None),  # the throttle read it (plans.throttles)
            )
            audit_record(user=request.user, action="backtest.submit", target=f"run:{run.id}", request=request)
        status_url = request.build_absolute_uri(f"/api/v1/backtests/{run.id}")
        code = status.HTTP_200_OK if (replay or run.cached) else status.HTTP_202_ACCEPTED
        return Response(
            {"id": str(run.id), "status": run.status, "status_url": status_url, "cached": run.cached},
            status=code,
            headers={"Location": status_url},
        )

    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        request=None, responses={200: BacktestRunSerializer, 409: OpenApiResponse(description="INVALID_STATE")}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = services.backtest_cancel(run=self.get_object())
        audit_record(user=request.user, action="backtest.cancel", target=f"run:{run.id}", request=request)
        return Response(self.get_serializer(run).data)

    @extend_schema(responses=TradeSerializer(many=True))
    @action(detail=True, methods=["get"])
    def trades(self, request, pk=None):
        run = self.get_object()
        page = self.paginate_queryset(selectors.trades_for_run(run=run))
        return self.get_paginated_response(TradeSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["json", "csv"], description="csv: time,equity,drawdown_pct rows.")
        ],
        responses={
            200: OpenApiResponse(
                description="Columns time (ISO 8601 UTC), equity (money), drawdown_pct (percent, <= 0); every bar "
                "up to 5,000, else thinned keeping each bucket's extremes and the max drawdown's peak and trough."
            ),
            409: OpenApiResponse(description="INVALID_STATE"),
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=[renderers.JSONRenderer, EquityCsvRenderer])
    def equity(self, request, pk=None):
        """The equity and drawdown curves, for your own notebooks."""
        run = _succeeded(self.get_object())
        response = Response(selectors.backtest_equity(run=run))
        if request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="quantmetrics-{run.market}-{run.id}-equity.csv"'
        return response

    @extend_schema(
        parameters=[MonteCarloQuerySerializer],
        responses={
            200: OpenApiResponse(description="Monte Carlo summary and fan percentiles (docs/metrics.md)."),
            400: OpenApiResponse(description="INVALID_REQUEST, e.g. paths over the cap"),
            409: OpenApiResponse(description="INVALID_STATE: not SUCCEEDED, or no trades"),
        },
    )
    @action(detail=True, methods=["get"])
    def montecarlo(self, request, pk=None):
        """Monte Carlo robustness; the defaults answer from the stored result, other settings are computed."""
        run = _succeeded(self.get_object())
        query = MonteCarloQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = selectors.backtest_montecarlo(run=run, settings=query.settings())
        if result is None:
            raise CodedError("INVALID_STATE", "the run has no trades to resample", details={"trade_count": 0})
        return Response(result)

    @extend_schema(
        responses={
            200: BenchmarkSerializer,
            409: OpenApiResponse(description="INVALID_STATE: not SUCCEEDED, or stored before benchmarks were kept"),
        },
    )
    @action(detail=True, methods=["get"])
    def benchmark(self, request, pk=None):
        """The run against its benchmark (buy-and-hold of its market unless the request named another):
        alpha, beta, correlation, tracking error, information ratio, capture, both equity curves and the
        rolling 90-day Sharpe and beta."""
        run = _succeeded(self.get_object())
        result = selectors.backtest_benchmark(run=run)
        if result is None:
            raise CodedError(
                "INVALID_STATE", "this run was stored before benchmark figures were kept; run it again", details={}
            )
        return Response(BenchmarkSerializer(result).data)

    @extend_schema(
        request=None,
        responses={
            200: BacktestRunSerializer,
            409: OpenApiResponse(description="INVALID_STATE: the run has not SUCCEEDED"),
        },
    )
    @action(detail=True, methods=["post"], url_path="report", url_name="report")
    def regenerate_report(self, request, pk=None):
        """Render the PDF again (e.g. after a rendering failure); the results are untouched."""
        run = self.get_object()
        services.report_regenerate(run=run)
        run.refresh_from_db()
        return Response(self.get_serializer(run).data)

    @extend_schema(responses={(200, "application/pdf"): OpenApiResponse(description="The PDF report")})
    @action(
        detail=True,
        methods=["get"],
        url_path=r"report\.pdf",
        url_name="report-pdf",
        renderer_classes=[renderers.JSONRenderer, PdfRenderer],
    )
    def report_pdf(self, request, pk=None):
        run = self.get_object()
        artifact = Artifact.objects.filter(run_id=run.id, kind=Artifact.Kind.REPORT_PDF).first()
        if artifact is None:
            if run.status != "SUCCEEDED":
                raise CodedError(
                    "REPORT_NOT_READY",
                    f"the run is {run.status}; the report exists once it has SUCCEEDED",
                    details={"status": run.status},
                )
            if run.cached and not run.report_error:
                raise CodedError(
                    "REPORT_NOT_READY",
                    "this result came from the cache; its own PDF is being rendered, try again in a moment",
                    details={"status": run.status, "cached": True},
                )
            raise CodedError(
                "REPORT_NOT_AVAILABLE", f"the PDF could not be rendered: {run.report_error or 'unknown error'}"
            )
        return artifacts.download_response(artifact.storage_key, filename=f"quantmetrics-{run.market}-{run.id}.pdf")


class TemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = StrategyTemplate
        fields = ["id", "name", "kind", "description", "body"]


class TemplateViewSet(viewsets.ReadOnlyModelViewSet):
    """Ready strategies. Run one with ``POST /api/v1/backtests {"template": "<id>", ...overrides}``."""

    queryset = StrategyTemplate.objects.all()
    serializer_class = TemplateSerializer
    pagination_class = None
    lookup_value_regex = "[a-z0-9_-]+"
