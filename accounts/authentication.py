"""DRF authentication: ``Authorization: Api-Key <key>`` for scripts, and simplejwt's
``Authorization: Bearer <access token>`` with its errors as one plain sentence.

DRF expects ``AuthenticationFailed`` from an authentication class (it marks the request
anonymous before the error is rendered), so the services' CodedError is translated here; the
one exception handler renders it as ``401 AUTHENTICATION_FAILED``.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts import services
from qm_platform.errors import CodedError

API_KEY_KEYWORD = "Api-Key"


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key qm_xxxxxxxx_...``; ``request.auth`` is the ApiKey row."""

    keyword = API_KEY_KEYWORD

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(f"Send the key as 'Authorization: {self.keyword} <key>'.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        try:
            api_key = services.api_key_authenticate(key=key, request=request)
        except CodedError as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        return api_key.user, api_key

    def authenticate_header(self, request):
        return self.keyword


class JWTAuthentication(SimpleJWTAuthentication):
    """simplejwt's, with an invalid or expired token explained in one sentence (simplejwt puts
    a dict of messages in the error, which would read badly in the error contract)."""

    def get_validated_token(self, raw_token):
        try:
            return super().get_validated_token(raw_token)
        except InvalidToken:
            raise exceptions.AuthenticationFailed(
                "The access token is invalid or has expired; get a new one from /api/v1/auth/token/refresh."
            ) from None


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"'{API_KEY_KEYWORD} <key>': a key created at /api/v1/me/api-keys",
        }


class JWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
