"""Errors raised by the module library: members of the platform's one error family
(:class:`qm_platform.errors.CodedError`, pure Python), rendered by the API's one handler."""

from qm_platform.errors import CodedError


class ModuleError(CodedError):
    """Base class for module library errors."""

    code = "INVALID_CONFIG"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(code, message, details)


class ModuleNotFound(ModuleError):
    def __init__(self, module_id: str, close_matches: list[str], available: list[str]):
        self.module_id = module_id
        self.close_matches = close_matches
        self.available = available
        hint = f" Did you mean {', '.join(close_matches)}?" if close_matches else ""
        super().__init__(
            f"Unknown module '{module_id}'.{hint}",
            code="MODULE_NOT_FOUND",
            details={"module_id": module_id, "close_matches": close_matches},
        )


class ModuleConfigError(ModuleError):
    """A config value is unknown, of the wrong type or out of range. Names the field."""

    def __init__(self, module_id: str, field: str, message: str):
        self.module_id = module_id
        self.field = field
        super().__init__(f"{module_id}.{field}: {message}", details={"module_id": module_id, "field": field})
        self.message = message  # the reason alone; str(exc) names the module and field


class ModuleDataError(ModuleError):
    """The input data lacks what the module needs (a column, enough rows, a DatetimeIndex)."""

    code = "INSUFFICIENT_DATA"
