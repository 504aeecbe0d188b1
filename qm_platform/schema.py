"""The OpenAPI schema says what the API does (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``).

drf-spectacular describes the successful answers a view declares; :class:`ApiAutoSchema` adds
the errors every operation can answer, each in the one contract (the ``Error`` component:
``{"success": false, "error", "code", "details"}``), and the list sizes the serializers enforce.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# query parameters whose bad value is a 404 in DRF (a page past the last, an unknown ?format=)
NOT_FOUND_PARAMETERS = ("page", "format")

ERROR_DESCRIPTIONS = {
    400: "The request is invalid: `code` names the problem (INVALID_REQUEST, INVALID_JSON, INVALID_DATA, "
    "INVALID_CONFIG, ...) and `details` where it is.",
    401: "NOT_AUTHENTICATED (no credentials) or AUTHENTICATION_FAILED (wrong or expired credentials).",
    403: "PERMISSION_DENIED (e.g. a session request without its CSRF token) or PLAN_LIMIT.",
    404: "NOT_FOUND: no such object, or it belongs to someone else; also a page past the last.",
    409: "INVALID_STATE: the object's state does not allow this (e.g. cancelling a finished run).",
    413: "REQUEST_TOO_LARGE (the body) or FILE_TOO_LARGE (an upload); `details` gives the limit.",
    429: "RATE_LIMITED or QUOTA_EXCEEDED; `Retry-After` (seconds) says when to try again.",
    503: "A service the request needs is unavailable (DATA_UNAVAILABLE, STORAGE_ERROR, ...): try again later.",
}


class ErrorSerializer(serializers.Serializer):
    """Every API error, whatever its status."""

    success = serializers.BooleanField(help_text="Always false.")
    error = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(help_text="What went wrong, for programs: UPPER_SNAKE, stable.")
    details = serializers.DictField(help_text="Machine-readable particulars (fields, limits, problems by line).")

    class Meta:
        ref_name = "Error"


class ApiAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for status in sorted(self._error_statuses(operation) | self._declared_errors(responses)):
            response = responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS.get(status, "")})
            response.setdefault("content", {"application/json": {"schema": self._error_ref()}})
            if status == 429:
                response.setdefault("headers", {})["Retry-After"] = {
                    "schema": {"type": "integer"},
                    "description": "Seconds to wait before the next request.",
                }
        return operation

    def _error_ref(self) -> dict[str, Any]:
        return self.resolve_serializer(ErrorSerializer, "response").ref

    @staticmethod
    def _declared_errors(responses: dict[str, Any]) -> set[int]:
        """Errors a view declared itself (often with a description only): they get the body too."""
        return {int(code) for code in responses if code.isdigit() and int(code) >= 400}

    def _error_statuses(self, operation: dict[str, Any]) -> set[int]:
        """The errors this operation can answer, from what it takes and how it is guarded."""
        parameters = operation.get("parameters", [])
        statuses = set()
        if "requestBody" in operation:
            statuses |= {400, 413}
        if any(p["in"] == "query" and p["name"] not in NOT_FOUND_PARAMETERS for p in parameters):
            statuses.add(400)
        if any(p["in"] == "path" or p["name"] in NOT_FOUND_PARAMETERS for p in parameters):
            statuses.add(404)
        authenticators = self.view.get_authenticators()
        if authenticators:  # wrong credentials are refused even where anonymous use is allowed
            statuses.add(401)
        if self.method in UNSAFE_METHODS and any(isinstance(a, SessionAuthentication) for a in authenticators):
            statuses.add(403)  # CSRF
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            statuses.add(401)
        if getattr(self.view, "throttle_classes", None):
            statuses.add(429)
        return statuses

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        is_list = isinstance(field, serializers.ListSerializer | serializers.ListField)
        if is_list and schema and schema.get("type") == "array":
            # the list sizes the serializer enforces (drf-spectacular leaves a nested many=True bare)
            least = max(getattr(field, "min_length", None) or 0, 0 if getattr(field, "allow_empty", True) else 1)
            if least:
                schema["minItems"] = max(schema.get("minItems", 0), least)
            most = getattr(field, "max_length", None)
            if most is not None:
                schema["maxItems"] = min(schema.get("maxItems", most), most)
        return schema
