"""Engine errors: members of the platform's one error family (pure Python, no Django)."""

from __future__ import annotations

from typing import Any

from qm_platform.errors import CodedError


class EngineError(CodedError):
    """A run could not be computed. ``code`` is the stable UPPER_SNAKE error code."""

    code = "ENGINE_ERROR"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(code, message, details)


class StrategyError(EngineError):
    """The strategy request is invalid (bad module, config, condition or exit)."""

    code = "INVALID_REQUEST"


class InsufficientData(EngineError):
    code = "INSUFFICIENT_DATA"
