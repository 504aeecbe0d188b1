"""One error family for every layer: ``CodedError(code, message, details)``.

Pure Python (no Django), so the module library, the engine, market data and batches raise the
same type the API renders. ``qm_platform.api_errors`` is the one DRF handler: it renders any
``CodedError`` as ``{"success": false, "error": "...", "code": "UPPER_SNAKE", "details": {...}}``
with the HTTP status that :data:`HTTP_STATUS` gives its code.
"""

from __future__ import annotations

from typing import Any

# The HTTP status of each code; a code not listed is a client error (400).
HTTP_STATUS: dict[str, int] = {
    "NOT_AUTHENTICATED": 401,
    "AUTHENTICATION_FAILED": 401,
    "PERMISSION_DENIED": 403,
    "PLAN_LIMIT": 403,
    "NOT_FOUND": 404,
    "CATEGORY_NOT_FOUND": 404,
    "REPORT_NOT_READY": 404,
    "REPORT_NOT_AVAILABLE": 404,
    "METHOD_NOT_ALLOWED": 405,
    "NOT_ACCEPTABLE": 406,
    "INVALID_STATE": 409,
    "DUPLICATE_NAME": 409,
    "FILE_TOO_LARGE": 413,
    "REQUEST_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RATE_LIMITED": 429,
    "QUOTA_EXCEEDED": 429,
    "INTERNAL_ERROR": 500,
    "DATA_UNAVAILABLE": 503,
    "DATA_SOURCE_UNAVAILABLE": 503,
    "STORAGE_ERROR": 503,
    "REPORT_FAILED": 503,
}


class CodedError(Exception):
    """An error with a stable UPPER_SNAKE ``code``, a ``message`` for people and
    machine-readable ``details``.

    ``status_code`` overrides the code's HTTP status only where one code means different
    things by where it appears (an unknown module named in a URL is 404, in a strategy 400).
    Subclasses name a layer (EngineError, ProviderError, ...) and may set a default ``code``.
    """

    code = "ERROR"

    def __init__(
        self, code: str | None, message: str, details: dict[str, Any] | None = None, *, status_code: int | None = None
    ):
        super().__init__(message)
        if code:
            self.code = code
        self.message = message
        self.details = details or {}
        self._status_code = status_code

    @property
    def status_code(self) -> int:
        return self._status_code or HTTP_STATUS.get(self.code, 400)

    def __reduce__(self):  # survives pickling (Celery, multiprocessing) with its fields
        return (_rebuild, (type(self), self.code, self.message, self.details, self._status_code))


def _rebuild(cls, code, message, details, status_code):
    error = Exception.__new__(cls)
    CodedError.__init__(error, code, message, details, status_code=status_code)
    return error


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"success": False, "error": message, "code": code, "details": details or {}}
