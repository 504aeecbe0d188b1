"""Batch and schedule API: validate → service → serialize."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from backtests.api.views import EXAMPLE_V4, PdfRenderer
from batches import selectors
from batches.api.serializers import (
    BatchDetailSerializer,
    BatchListSerializer,
    BatchRequestSerializer,
    BatchSubmitResponseSerializer,
    ScheduleSerializer,
)
from batches.models import Batch
from batches.services.lifecycle import batch_cancel, batch_create
from batches.services.report import batch_render_report_html, batch_render_report_pdf
from batches.services.schedules import schedule_create, schedule_delete, schedule_update
from qm_platform import artifacts
from qm_platform.errors import CodedError
from qm_platform.parsers import UUID_PATTERN

EXAMPLE_BATCH = {
    "strategy": EXAMPLE_V4,
    "grid": {"decisionBlocks[0].subConfirmations[0].config.period": [7, 14, 21], "exit.takeProfit": [1.5, 2, 3]},
    "markets": ["XAUUSD", "EURUSD"],
    "objective": "sharpe",
    "constraints": {"min_trades": 20, "max_drawdown_pct": 25},
}
EXAMPLE_WALK_FORWARD = {
    "mode": "walk_forward",
    "strategy": {**EXAMPLE_V4, "marketContext": {**EXAMPLE_V4["marketContext"], "testPeriod": "1y"}},
    "grid": {"decisionBlocks[0].subConfirmations[0].config.period": [7, 14, 21]},
    "walkForward": {"inSample": "6mo", "outOfSample": "2mo", "step": "2mo", "anchored": False},
    "objective": "pvs",
}
MAX_RESULTS_PAGE = 10_000


def _int_param(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise CodedError("INVALID_REQUEST", f"{name} must be an integer", details={"field": name}) from None
    if not low <= value <= high:
        raise CodedError("INVALID_REQUEST", f"{name} must be between {low} and {high}", details={"field": name})
    return value


class BatchViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = BatchListSerializer
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        return selectors.batch_list_for_user(user=self.request.user)

    def get_object(self) -> Batch:
        batch = selectors.batch_get_for_user(user=self.request.user, batch_id=self.kwargs["pk"])
        if batch is None:
            raise CodedError("NOT_FOUND", "No batch with this id.")
        return batch

    @extend_schema(
        request=BatchRequestSerializer,
        responses={
            202: BatchSubmitResponseSerializer,
            404: OpenApiResponse(description="NOT_FOUND: the saved strategy (or version) is not one of yours"),
        },
        examples=[
            OpenApiExample("Grid over two markets", value=EXAMPLE_BATCH),
            OpenApiExample("Walk-forward", value=EXAMPLE_WALK_FORWARD),
            OpenApiExample(
                "A saved strategy's version 2",
                value={"strategy": 12, "version": 2, "grid": {"exit.takeProfit": [1.5, 2, 3]}},
            ),
        ],
    )
    def create(self, request):
        """Validated at once (every 4xx before anything is saved); a large batch's runs are
        saved by a task afterwards (``stage`` creating_runs), so this answers at once."""
        serializer = BatchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch = batch_create(user=request.user, definition=serializer.definition())
        counts = selectors.batch_run_counts(batch=batch)
        status_url = request.build_absolute_uri(f"/api/v1/batches/{batch.id}")
        return Response(
            {
                "id": str(batch.id),
                "status": batch.status,
                "status_url": status_url,
                "stage": batch.stage,
                "planned_runs": batch.planned_runs,
                "runs": sum(counts[s] for s in counts if s != "cached"),
                "cached": counts["cached"],
            },
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": status_url},
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "sort",
                str,
                description="score (default), a swept parameter or any metric; prefix '-' is ignored, use order",
            ),
            OpenApiParameter("order", str, enum=["desc", "asc"]),
            OpenApiParameter("limit", int, description="rows of the results table (default 100)"),
            OpenApiParameter("offset", int),
            OpenApiParameter("phase", str, enum=["in_sample", "out_of_sample"], description="walk-forward rows"),
            OpenApiParameter("window", int, description="walk-forward window index"),
        ],
        responses=BatchDetailSerializer,
    )
    def retrieve(self, request, pk=None):
        batch = self.get_object()
        counts = selectors.batch_run_counts(batch=batch)
        sort = request.query_params.get("sort", "score").lstrip("-") or "score"
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise CodedError("INVALID_REQUEST", "order must be 'asc' or 'desc'", details={"field": "order"})
        limit = _int_param(request, "limit", 100, 0, MAX_RESULTS_PAGE)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        rows = selectors.batch_scored_rows(batch=batch)
        if request.query_params.get("phase"):
            rows = [r for r in rows if r["phase"] == request.query_params["phase"]]
        if request.query_params.get("window") is not None:
            window = _int_param(request, "window", 0, 0, 10_000)
            rows = [r for r in rows if r["window"] == window]
        rows = selectors.sort_rows(rows, sort, descending=order == "desc")
        results = {
            "sort": sort,
            "order": order,
            "total": len(rows),
            "offset": offset,
            "complete": batch.is_final,
            "rows": [selectors.table_row(r, sort) for r in rows[offset : offset + limit]],
        }

        def url(name):
            return request.build_absolute_uri(reverse(name, kwargs={"pk": batch.id}))

        links = {
            "self": url("batch-detail"),
            "report": url("batch-report"),
            "report_pdf": url("batch-report-pdf"),
            "cancel": url("batch-cancel"),
        }
        best = (batch.summary or {}).get("best")
        if best:  # the best run's own curves and robustness, on the run API (the batch's owner owns it)
            for key in ("run", "equity", "montecarlo", "benchmark"):
                name = "backtest-detail" if key == "run" else f"backtest-{key}"
                links[f"best_{key}"] = request.build_absolute_uri(reverse(name, kwargs={"pk": best["run_id"]}))
        context = {
            "request": request,
            "counts": counts,
            "results": results,
            "links": links,
            "progress": selectors.batch_progress(batch=batch, counts=counts),
        }
        return Response(BatchDetailSerializer(batch, context=context).data)

    @extend_schema(
        request=None, responses={200: BatchListSerializer, 409: OpenApiResponse(description="INVALID_STATE")}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        batch = batch_cancel(batch=self.get_object())
        return Response(BatchListSerializer(batch).data)

    @extend_schema(
        parameters=[OpenApiParameter("x", str), OpenApiParameter("y", str)],
        responses={(200, "text/html"): OpenApiResponse(description="The batch report page")},
    )
    @action(detail=True, methods=["get"], url_path="report", url_name="report")
    def report(self, request, pk=None):
        """The batch report as an HTML page; ``x`` and ``y`` pick the heatmap's parameters."""
        batch = self.get_object()
        html = batch_render_report_html(
            batch=batch, for_pdf=False, x=request.query_params.get("x"), y=request.query_params.get("y")
        )
        return HttpResponse(html, content_type="text/html; charset=utf-8")

    @extend_schema(responses={(200, "application/pdf"): OpenApiResponse(description="The batch report PDF")})
    @action(
        detail=True,
        methods=["get"],
        url_path=r"report\.pdf",
        url_name="report-pdf",
        renderer_classes=[renderers.JSONRenderer, PdfRenderer],
    )
    def report_pdf(self, request, pk=None):
        """The stored PDF; a final batch without one (rendering off or failed) is rendered now."""
        batch = self.get_object()
        if not artifacts.exists(batch.report_key):
            if not batch.is_final:
                raise CodedError(
                    "REPORT_NOT_READY",
                    f"the batch is {batch.status}; the report exists once it is final",
                    details={"status": batch.status},
                )
            if batch_render_report_pdf(batch_id=batch.id) is None:
                batch.refresh_from_db()
                raise CodedError("REPORT_FAILED", f"the PDF could not be rendered: {batch.report_error}")
            batch.refresh_from_db()
        return artifacts.download_response(batch.report_key, filename=f"quantmetrics-batch-{batch.id}.pdf")


class ScheduleViewSet(viewsets.ViewSet):
    """GET/POST /schedules, GET/PATCH/DELETE /schedules/{id}."""

    serializer_class = ScheduleSerializer
    lookup_value_regex = r"\d+"

    def _get(self, request, pk):
        schedule = selectors.schedule_get_for_user(user=request.user, schedule_id=pk)
        if schedule is None:
            raise CodedError("NOT_FOUND", "No schedule with this id.")
        return schedule

    @extend_schema(responses=ScheduleSerializer(many=True))
    def list(self, request):
        return Response(ScheduleSerializer(selectors.schedule_list_for_user(user=request.user), many=True).data)

    @extend_schema(
        request=ScheduleSerializer,
        responses={
            201: ScheduleSerializer,
            404: OpenApiResponse(description="NOT_FOUND: the saved strategy (or version) is not one of yours"),
        },
        examples=[
            OpenApiExample(
                "Weekday mornings",
                value={
                    "name": "RSI sweep, weekday mornings",
                    "cron": "0 6 * * 1-5",
                    "timezone": "Europe/London",
                    "definition": EXAMPLE_BATCH,
                },
            )
        ],
    )
    def create(self, request):
        serializer = ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        schedule = schedule_create(
            user=request.user,
            name=data["name"],
            definition=data["definition"],
            cron=data.get("cron", ""),
            interval_seconds=data.get("interval_seconds"),
            timezone_name=data.get("timezone", "UTC"),
            enabled=data.get("enabled", True),
        )
        return Response(ScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=ScheduleSerializer)
    def retrieve(self, request, pk=None):
        return Response(ScheduleSerializer(self._get(request, pk)).data)

    @extend_schema(request=ScheduleSerializer, responses=ScheduleSerializer)
    def partial_update(self, request, pk=None):
        schedule = self._get(request, pk)
        serializer = ScheduleSerializer(schedule, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "timezone" in changes:
            changes["timezone_name"] = changes.pop("timezone")
        schedule = schedule_update(schedule=schedule, **changes)
        return Response(ScheduleSerializer(schedule).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        schedule_delete(schedule=self._get(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
