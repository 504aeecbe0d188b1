"""Engine errors. Plain Python: the Django layer maps them to API errors and run failures."""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """A run could not be computed. ``code`` is the stable UPPER_SNAKE error code."""

    code = "ENGINE_ERROR"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class StrategyError(EngineError):
    """The strategy request is invalid (bad module, config, condition or exit)."""

    code = "INVALID_REQUEST"


class InsufficientData(EngineError):
    code = "INSUFFICIENT_DATA"
