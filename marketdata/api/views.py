"""Dataset API: validate → service → serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from accounts.services import audit_record
from marketdata import selectors, services
from marketdata.api.serializers import (
    DatasetDetailSerializer,
    DatasetListQuerySerializer,
    DatasetSerializer,
    DatasetUploadSerializer,
)
from qm_platform.errors import CodedError
from qm_platform.uploads import MaxSizeUploadHandler


class DatasetViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = DatasetSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        query = DatasetListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.dataset_list(user=self.request.user, **query.validated_data)

    def get_object(self):
        dataset = selectors.dataset_get(dataset_id=int(self.kwargs["pk"]), user=self.request.user)
        if dataset is None:
            raise CodedError("NOT_FOUND", "No dataset with this id.")
        return dataset

    @extend_schema(
        parameters=[
            OpenApiParameter("symbol", str),
            OpenApiParameter("timeframe", str),
            OpenApiParameter("source", str, enum=["synthetic", "yahoo", "csv"]),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=DatasetDetailSerializer)
    def retrieve(self, request, pk=None):
        return Response(DatasetDetailSerializer(self.get_object(), context={"request": request}).data)

    @extend_schema(
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={
            201: DatasetDetailSerializer,
            400: OpenApiResponse(description="INVALID_DATA with the first problems by line"),
            413: OpenApiResponse(description="FILE_TOO_LARGE"),
        },
    )
    def create(self, request):
        # before request.data: a body over the limit is refused from its Content-Length, unread
        request.upload_handlers.insert(0, MaxSizeUploadHandler(services.dataset_upload_max_bytes()))
        form = DatasetUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        result = services.dataset_import_csv(
            user=request.user,
            data=upload,
            symbol=form.validated_data["symbol"],
            timeframe=form.validated_data.get("timeframe"),
            tz=form.validated_data.get("tz") or None,
            policy=form.validated_data["policy"],
            name=upload.name or "",
        )
        body = DatasetDetailSerializer(result.dataset, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})

    @extend_schema(request=None, responses={204: None, 409: OpenApiResponse(description="INVALID_STATE")})
    def destroy(self, request, pk=None):
        dataset = self.get_object()
        if dataset.owner_id != request.user.id:
            raise CodedError(
                "INVALID_STATE", "shared provider caches are removed by cache clean-up, not deleted over the API"
            )
        services.dataset_delete(dataset=dataset)
        audit_record(user=request.user, action="dataset.delete", target=f"dataset:{pk}", request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={
            200: DatasetDetailSerializer,
            409: OpenApiResponse(description="INVALID_STATE (an upload)"),
            503: OpenApiResponse(description="DATA_UNAVAILABLE"),
        },
    )
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        """Download the dataset's recent bars again from its provider, up to now."""
        dataset, warnings = services.dataset_refresh(dataset=self.get_object())
        body = DatasetDetailSerializer(dataset, context={"request": request}).data
        return Response({**body, "warnings": warnings})
