"""Auth and account API: validate → service → serialize.

/api/v1/auth/token, /token/refresh, /logout   JWT for apps and the browser
/api/v1/me                                   the account (GET), its deletion (DELETE, password again)
/api/v1/me/export                            a ZIP of the user's data (GDPR)
/api/v1/me/api-keys[/<id>]                   API keys for scripts: list, create (shown once), revoke
"""

from __future__ import annotations

import json

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import renderers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.serializers import (
    AccountDeleteSerializer,
    AccountSerializer,
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    RefreshSerializer,
    TokenObtainSerializer,
    TokenPairSerializer,
)
from accounts.throttles import LoginAddressThrottle
from qm_platform.errors import CodedError

AUTH_FAILED = OpenApiResponse(description="AUTHENTICATION_FAILED")


class ZipRenderer(renderers.BaseRenderer):
    media_type = "application/zip"
    format = "zip"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Only errors reach a renderer (the archive itself is a FileResponse): keep them JSON.
        return json.dumps(data).encode() if isinstance(data, (dict, list)) else data


class TokenObtainView(APIView):
    """Log in with username and password: a refresh and an access token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginAddressThrottle]

    @extend_schema(request=TokenObtainSerializer, responses={200: TokenPairSerializer, 401: AUTH_FAILED})
    def post(self, request):
        form = TokenObtainSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        pair = services.jwt_obtain(**form.validated_data, request=request)
        return Response(TokenPairSerializer(pair).data)


class TokenRefreshView(APIView):
    """A new access token and a new refresh token; the refresh token sent is blacklisted."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginAddressThrottle]

    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer, 401: AUTH_FAILED})
    def post(self, request):
        form = RefreshSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return Response(TokenPairSerializer(services.jwt_refresh(refresh=form.validated_data["refresh"])).data)


class LogoutView(APIView):
    """Blacklist a refresh token: it can no longer be refreshed."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RefreshSerializer, responses={204: None, 401: AUTH_FAILED})
    def post(self, request):
        form = RefreshSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.jwt_logout(refresh=form.validated_data["refresh"], request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses=AccountSerializer)
    def get(self, request):
        return Response(AccountSerializer(request.user).data)

    @extend_schema(
        request=AccountDeleteSerializer,
        responses={204: None, 400: OpenApiResponse(description="INVALID_PASSWORD")},
        description="Delete the account and everything it owns: runs, trades, report PDFs, datasets and their "
        "stored data, schedules. Cannot be undone; export first (GET /api/v1/me/export).",
    )
    def delete(self, request):
        form = AccountDeleteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.account_delete(user=request.user, password=form.validated_data["password"], request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExportView(APIView):
    renderer_classes = [renderers.JSONRenderer, ZipRenderer]

    @extend_schema(
        responses={(200, "application/zip"): OpenApiResponse(description="data.json and files/ (PDFs, uploads)")}
    )
    def get(self, request):
        archive = services.account_export(user=request.user, request=request)
        name = f"quantmetrics-{request.user.get_username()}-{timezone.now():%Y%m%d}.zip"
        return FileResponse(archive, content_type="application/zip", as_attachment=True, filename=name)


class ApiKeyListView(APIView):
    @extend_schema(responses=ApiKeySerializer(many=True))
    def get(self, request):
        return Response(ApiKeySerializer(selectors.api_key_list_for_user(user=request.user), many=True).data)

    @extend_schema(
        request=ApiKeyCreateSerializer,
        responses={
            201: ApiKeyCreatedSerializer,
            409: OpenApiResponse(description="INVALID_STATE: the account has its maximum of active keys"),
        },
    )
    def post(self, request):
        form = ApiKeyCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        api_key, key = services.api_key_create(user=request.user, **form.validated_data, request=request)
        return Response({**ApiKeySerializer(api_key).data, "key": key}, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(APIView):
    def _get(self, request, pk: str):
        api_key = selectors.api_key_get_for_user(user=request.user, api_key_id=int(pk))
        if api_key is None:
            raise CodedError("NOT_FOUND", "No API key with this id.")
        return api_key

    @extend_schema(responses=ApiKeySerializer)
    def get(self, request, pk: str):
        return Response(ApiKeySerializer(self._get(request, pk)).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: str):
        """Revoke the key: requests with it are refused from now on (401). It stays listed, revoked."""
        services.api_key_revoke(api_key=self._get(request, pk), by=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
