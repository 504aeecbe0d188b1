"""The one handler: every API error, ours (:class:`qm_platform.errors.CodedError`), DRF's
and Django's, is rendered as ``{"success": false, "error": "...", "code": "UPPER_SNAKE",
"details": {...}}``; the status comes from the error's code (``qm_platform.errors.HTTP_STATUS``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

from qm_platform.errors import CodedError, error_body

logger = logging.getLogger("qm.api")


_DRF_CODES = {
    exceptions.ParseError: "INVALID_JSON",
    exceptions.NotAuthenticated: "NOT_AUTHENTICATED",
    exceptions.AuthenticationFailed: "AUTHENTICATION_FAILED",
    exceptions.PermissionDenied: "PERMISSION_DENIED",
    exceptions.NotFound: "NOT_FOUND",
    exceptions.MethodNotAllowed: "METHOD_NOT_ALLOWED",
    exceptions.NotAcceptable: "NOT_ACCEPTABLE",
    exceptions.UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
    exceptions.Throttled: "RATE_LIMITED",
    exceptions.ValidationError: "INVALID_REQUEST",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler: renders CodedError, DRF's and Django's errors, and
    anything unexpected (as a 500 without a stack trace) in the one contract."""
    _render_as_json(context.get("request"))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = CodedError("REQUEST_TOO_LARGE", f"the request body is larger than {limit:,} bytes", {"max_bytes": limit})
    elif isinstance(exc, DjangoValidationError):  # e.g. a malformed UUID reaching a query
        exc = CodedError("INVALID_REQUEST", "; ".join(exc.messages))
    elif isinstance(exc, RecursionError):
        exc = CodedError("INVALID_REQUEST", "the request is nested too deeply")

    headers: dict[str, str] = {}
    if isinstance(exc, CodedError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "ERROR")
        if isinstance(exc, exceptions.ValidationError):
            message = "The request is invalid: " + _first_problem(exc.detail)
            details = {"fields": exc.detail}
        else:
            message = str(exc.detail)
            details = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait))
            details["retry_after_seconds"] = int(exc.wait)
        return Response(error_body(code, message, details), status=exc.status_code, headers=headers)

    view = context.get("view")
    logger.exception("unhandled error in %s", type(view).__name__ if view else "API")
    set_rollback()
    return Response(
        error_body("INTERNAL_ERROR", "An internal error occurred; it has been logged."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def _render_as_json(request: Any) -> None:
    """An error is JSON whatever format the request asked for (``?format=csv``, ``?format=pdf``):
    DRF renders the response with the request's accepted renderer, so that is the one to set."""
    if request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def _first_problem(detail: Any, path: str = "") -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":  # DRF's name for "the object itself"
                return _first_problem(value, path)
            return _first_problem(value, f"{path}.{key}" if path else str(key))
    if isinstance(detail, list) and detail:
        return _first_problem(detail[0], path)
    return f"{path}: {detail}" if path else str(detail)


def json_404(request, exception=None):
    if not request.path.startswith("/api/"):
        from django.views.defaults import page_not_found

        return page_not_found(request, exception)
    return JsonResponse(error_body("NOT_FOUND", f"No such resource: {request.path}"), status=404)


def json_500(request):
    """The API answers JSON in the contract; a page answers the styled 500 page."""
    if not request.path.startswith("/api/"):
        from django.views.defaults import server_error

        return server_error(request)
    return JsonResponse(error_body("INTERNAL_ERROR", "An internal error occurred; it has been logged."), status=500)
