"""The strategy library API: ``/api/v1/strategies`` (owner-scoped, paginated, filtered by name,
tag and market), its versions, the diff between two, its runs and batches, export and import.
Validate → service → serialize; another user's strategy is 404 like one that does not exist."""

from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.services import audit_record
from backtests.api.views import EXAMPLE_V4
from backtests.library import selectors, services, transfer
from backtests.library.checks import compile_status
from backtests.library.diff import body_patch, patch_summary
from backtests.models import Strategy, StrategyVersion
from qm_platform.errors import CodedError
from qm_platform.parsers import loads_bounded

MAX_HISTORY_RUNS = 500
STRATEGY_FIELDS = ["id", "name", "description", "tags", "kind", "market", "latest_version", "created_at", "updated_at"]


class StrategyListSerializer(serializers.ModelSerializer):
    run_count = serializers.IntegerField(read_only=True, help_text="Runs that came from the strategy.")
    last_run_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Strategy
        fields = [*STRATEGY_FIELDS, "run_count", "last_run_at"]


class CompileStatusSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Whether the latest version compiles today.")
    code = serializers.CharField(allow_blank=True, help_text="The compiler's error code when it does not.")
    message = serializers.CharField(allow_blank=True)
    details = serializers.DictField()


class StrategyDetailSerializer(serializers.ModelSerializer):
    """The strategy with its latest body (``body``) and whether that still compiles: a module
    parameter removed in a later release shows here with the reason, never as a 500."""

    body = serializers.JSONField(source="definition", help_text="The latest version's body.")
    compiles = serializers.SerializerMethodField()

    class Meta:
        model = Strategy
        fields = [*STRATEGY_FIELDS, "body", "compiles"]

    @extend_schema_field(CompileStatusSerializer)
    def get_compiles(self, strategy) -> dict:
        return compile_status(user=self.context["user"], body=strategy.definition)


class StrategyWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=40), max_length=20, required=False)
    body = serializers.JSONField(
        help_text="A request body as POST /api/v1/backtests takes it (V4, V5 or a template with overrides); "
        "validated by the same compiler, with the same 400s."
    )

    def validate_body(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a request body (object)")
        return value


class StrategyVersionListSerializer(serializers.ModelSerializer):
    class Meta:
        model = StrategyVersion
        fields = ["number", "summary", "created_at"]


class StrategyVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = StrategyVersion
        fields = ["number", "summary", "created_at", "body"]


class DiffQuerySerializer(serializers.Serializer):
    """``?from=1&to=3`` ("from" is a Python keyword, so the fields are declared in get_fields)."""

    def get_fields(self):
        return {
            "from": serializers.IntegerField(min_value=1, required=False, help_text="Default: the one before `to`."),
            "to": serializers.IntegerField(min_value=1, required=False, help_text="Default: the latest version."),
        }


class DiffSerializer(serializers.Serializer):
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    summary = serializers.CharField()
    patch = serializers.ListField(child=serializers.DictField(), help_text="RFC 6902 JSON Patch: from → to.")


class StrategyRunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    version = serializers.IntegerField(source="strategy_version", allow_null=True)
    status = serializers.CharField()
    market = serializers.CharField()
    timeframe = serializers.CharField()
    direction = serializers.CharField()
    cached = serializers.BooleanField()
    batch = serializers.UUIDField(source="batch_id", allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    metrics = serializers.SerializerMethodField(help_text="The key metrics; null before the run succeeded.")

    def get_metrics(self, run) -> dict | None:
        return selectors.key_metrics(run.metrics) if run.metrics else None


class StrategyBatchSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    mode = serializers.CharField()
    status = serializers.CharField()
    version = serializers.SerializerMethodField(help_text="The strategy version the batch ran.")
    schedule = serializers.IntegerField(source="schedule_id", allow_null=True)
    runs = serializers.IntegerField(source="planned_runs")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    best_metrics = serializers.SerializerMethodField(help_text="The best run's key metrics, once the batch is final.")

    def get_version(self, batch) -> int | None:
        return getattr(batch, "strategy_version", None)

    def get_best_metrics(self, batch) -> dict | None:
        best = (batch.summary or {}).get("best") or {}
        return selectors.key_metrics(best["metrics"]) if best.get("metrics") else None


class ByVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    runs = serializers.IntegerField()
    mean_sharpe = serializers.FloatField(allow_null=True)
    mean_net_return_pct = serializers.FloatField(allow_null=True)


class StrategyHistorySerializer(serializers.Serializer):
    runs = StrategyRunSerializer(
        many=True, help_text="Runs of the strategy outside batches, newest first (500 at most)."
    )
    runs_total = serializers.IntegerField()
    batches = StrategyBatchSerializer(many=True)
    by_version = ByVersionSerializer(many=True, help_text="Succeeded runs per version: mean Sharpe and net return.")


class TemplateCopySerializer(serializers.Serializer):
    template = serializers.SlugField(max_length=64, help_text="A template id from GET /api/v1/templates.")
    name = serializers.CharField(max_length=200, required=False, help_text="Default: the template's name.")


class DeleteQuerySerializer(serializers.Serializer):
    delete_runs = serializers.BooleanField(
        required=False, default=False, help_text="true: delete the runs that came from the strategy too."
    )


class ImportQuerySerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=200, required=False, help_text="Save under this name instead of the file's."
    )


EXAMPLE_STRATEGY = {
    "name": "RSI dip, XAUUSD",
    "description": "Buy RSI(14) below 30.",
    "tags": ["mean-reversion", "gold"],
    "body": EXAMPLE_V4,
}


class StrategyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """GET/POST /strategies, GET/PATCH/DELETE /strategies/{id}, and the strategy's versions,
    diff, runs, export; POST /strategies/import."""

    serializer_class = StrategyDetailSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        query = self.request.query_params
        return selectors.strategy_list_for_user(
            user=self.request.user,
            name=query.get("name", "")[:200],
            tag=query.get("tag", "")[:40],
            market=query.get("market", "")[:32],
        )

    def get_serializer_class(self):
        return StrategyListSerializer if self.action == "list" else StrategyDetailSerializer

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "user": self.request.user}

    def get_object(self):
        strategy = selectors.strategy_get_for_user(user=self.request.user, strategy_id=self.kwargs["pk"])
        if strategy is None:
            raise CodedError("NOT_FOUND", "No strategy with this id.")
        return strategy

    def _detail(self, strategy, code=status.HTTP_200_OK):
        return Response(StrategyDetailSerializer(strategy, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        parameters=[
            OpenApiParameter("name", str, description="Names containing this text (any case)."),
            OpenApiParameter("tag", str, description="Strategies with this tag."),
            OpenApiParameter("market", str, description="Strategies whose latest version trades this market."),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=StrategyWriteSerializer,
        responses={201: StrategyDetailSerializer, 409: OpenApiResponse(description="DUPLICATE_NAME")},
        examples=[OpenApiExample("Save a V4 strategy", value=EXAMPLE_STRATEGY, request_only=True)],
    )
    def create(self, request):
        data = self._validated(StrategyWriteSerializer(data=request.data))
        strategy = services.strategy_create(
            user=request.user,
            name=data["name"],
            body=data["body"],
            description=data.get("description", ""),
            tags=data.get("tags"),
        )
        audit_record(user=request.user, action="strategy.create", target=f"strategy:{strategy.id}", request=request)
        return self._detail(strategy, status.HTTP_201_CREATED)

    @extend_schema(
        request=StrategyWriteSerializer(partial=True),
        responses={200: StrategyDetailSerializer, 409: OpenApiResponse(description="DUPLICATE_NAME")},
    )
    def partial_update(self, request, pk=None):
        """Rename, describe or tag it; a changed ``body`` is saved as a new version."""
        strategy = self.get_object()
        data = self._validated(StrategyWriteSerializer(data=request.data, partial=True))
        strategy = services.strategy_update(
            strategy=strategy,
            name=data.get("name"),
            description=data.get("description"),
            tags=data.get("tags"),
            body=data.get("body"),
        )
        audit_record(user=request.user, action="strategy.update", target=f"strategy:{strategy.id}", request=request)
        return self._detail(strategy)

    @extend_schema(parameters=[DeleteQuerySerializer], responses={204: None})
    def destroy(self, request, pk=None):
        """Delete it; its runs stay (showing the strategy as deleted) unless ``?delete_runs=true``."""
        strategy = self.get_object()
        query = self._validated(DeleteQuerySerializer(data=request.query_params))
        target = f"strategy:{strategy.id}"
        services.strategy_delete(strategy=strategy, delete_runs=query["delete_runs"])
        audit_record(user=request.user, action="strategy.delete", target=target, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=StrategyVersionListSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        """Every version, oldest first (their bodies at ``…/versions/{n}``)."""
        strategy = self.get_object()
        page = self.paginate_queryset(selectors.strategy_versions(strategy=strategy))
        return self.get_paginated_response(StrategyVersionListSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("number", int, OpenApiParameter.PATH)],
        responses=StrategyVersionSerializer,
    )
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>\d+)", url_name="version")
    def version(self, request, pk=None, number=None):
        """One version with its body, as it was saved."""
        version = selectors.strategy_version_get(strategy=self.get_object(), number=number)
        if version is None:
            raise CodedError("NOT_FOUND", f"No version {number} of this strategy.")
        return Response(StrategyVersionSerializer(version).data)

    @extend_schema(parameters=[DiffQuerySerializer], responses=DiffSerializer)
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        """The JSON Patch (RFC 6902) from version ``from`` to version ``to``, and a summary."""
        strategy = self.get_object()
        query = self._validated(DiffQuerySerializer(data=request.query_params))
        to = query.get("to", strategy.latest_version)
        frm = query.get("from", max(to - 1, 1))
        old = selectors.strategy_version_get(strategy=strategy, number=frm)
        new = selectors.strategy_version_get(strategy=strategy, number=to)
        if old is None or new is None:
            missing = frm if old is None else to
            raise CodedError(
                "NOT_FOUND",
                f"No version {missing} of this strategy; its latest is {strategy.latest_version}.",
                details={"latest_version": strategy.latest_version},
            )
        patch = body_patch(old.body, new.body)
        return Response(
            {"from_version": frm, "to_version": to, "summary": patch_summary(patch, old=old.body), "patch": patch}
        )

    @extend_schema(responses=StrategyHistorySerializer)
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        """Every run and batch of the strategy with its key metrics, and the mean Sharpe by version."""
        strategy = self.get_object()
        direct = selectors.strategy_runs(strategy=strategy).filter(batch__isnull=True)
        data = {
            "runs": list(direct[:MAX_HISTORY_RUNS]),
            "runs_total": direct.count(),
            "batches": list(selectors.strategy_batches(strategy=strategy)),
            "by_version": selectors.strategy_metrics_by_version(strategy=strategy),
        }
        return Response(StrategyHistorySerializer(data).data)

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The strategy file (JSON).")})
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """The strategy with all its versions, as a JSON file that ``POST /strategies/import`` takes."""
        strategy = self.get_object()
        response = JsonResponse(transfer.strategy_export(strategy=strategy), json_dumps_params={"indent": 2})
        response["Content-Disposition"] = f'attachment; filename="strategy-{strategy.id}.json"'
        return response

    @extend_schema(
        request={
            "application/json": OpenApiTypes.OBJECT,
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            },
        },
        parameters=[ImportQuerySerializer],
        responses={201: StrategyDetailSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
    )
    def import_file(self, request):
        """Import an exported strategy file (the JSON body, or a multipart ``file``) with all its
        versions. Every problem is reported at once by its path: 400 INVALID_IMPORT."""
        query = self._validated(ImportQuerySerializer(data=request.query_params))
        document = request.data
        upload = request.FILES.get("file")
        if upload is not None:
            try:
                document = loads_bounded(upload.read().decode("utf-8", "replace"))
            except ValueError as exc:
                raise CodedError("INVALID_JSON", f"the file is not valid JSON: {exc}", {"field": "file"}) from None
        strategy = services.strategy_import(user=request.user, document=document, name=query.get("name"))
        audit_record(user=request.user, action="strategy.import", target=f"strategy:{strategy.id}", request=request)
        return self._detail(strategy, status.HTTP_201_CREATED)

    @extend_schema(
        request=TemplateCopySerializer,
        responses={201: StrategyDetailSerializer, 409: OpenApiResponse(description="DUPLICATE_NAME")},
    )
    @action(detail=False, methods=["post"], url_path="from-template", url_name="from-template")
    def from_template(self, request):
        """Copy a template into your library as a new strategy (version 1), to edit and version."""
        data = self._validated(TemplateCopySerializer(data=request.data))
        strategy = services.strategy_copy_template(
            user=request.user, template_id=data["template"], name=data.get("name")
        )
        audit_record(user=request.user, action="strategy.create", target=f"strategy:{strategy.id}", request=request)
        return self._detail(strategy, status.HTTP_201_CREATED)

    @staticmethod
    def _validated(serializer) -> dict:
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
