"""The module catalogue: list by category, one module, its schema (the seed's format)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from modules.errors import ModuleNotFound
from modules.registry import get_registry
from qm_platform.errors import CodedError


def _module_or_404(module_id: str):
    try:
        return get_registry().get_module(module_id)
    except ModuleNotFound as exc:
        raise CodedError(
            "MODULE_NOT_FOUND",
            str(exc),
            status_code=404,
            details={
                "module_id": module_id,
                "close_matches": exc.close_matches,
                "available_modules": get_registry().list_available_modules(),
            },
        ) from None


class ModuleViewSet(viewsets.ViewSet):
    permission_classes = [permissions.AllowAny]
    lookup_value_regex = "[a-z0-9_]+"

    @extend_schema(
        operation_id="modules_list",
        parameters=[OpenApiParameter("category", str, description="Only this category.")],
        responses={200: dict, 404: OpenApiResponse(description="CATEGORY_NOT_FOUND: no such category")},
    )
    def list(self, request):
        registry = get_registry()
        wanted = request.query_params.get("category")
        categories = registry.list_available_modules()
        if wanted and wanted not in categories:
            raise CodedError(
                "CATEGORY_NOT_FOUND", f"unknown category {wanted!r}", details={"categories": sorted(categories)}
            )
        out = []
        for category, ids in categories.items():
            if wanted and category != wanted:
                continue
            modules = [registry.get_module(i).describe() for i in ids]
            out.append({"category": category, "count": len(modules), "modules": modules})
        return Response({"success": True, "total": sum(c["count"] for c in out), "categories": out})

    @extend_schema(responses={200: dict})
    def retrieve(self, request, pk=None):
        cls = _module_or_404(pk)
        return Response(
            {
                **cls.describe(),
                "schema": cls.get_config_schema(),
                "defaults": cls.defaults(),
                "outputs": [o.to_schema() for o in cls.outputs],
            }
        )

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"], url_path="schema", url_name="schema")
    def config_schema(self, request, pk=None):
        cls = _module_or_404(pk)
        return Response(
            {"module_id": cls.module_id, "name": cls.name, "category": cls.category, "schema": cls.get_config_schema()}
        )
