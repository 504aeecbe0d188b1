"""Errors raised by the module library. Plain Python: the Django layer maps them to API errors."""


class ModuleError(Exception):
    """Base class for module library errors."""


class ModuleNotFound(ModuleError):
    def __init__(self, module_id: str, close_matches: list[str], available: list[str]):
        self.module_id = module_id
        self.close_matches = close_matches
        self.available = available
        hint = f" Did you mean {', '.join(close_matches)}?" if close_matches else ""
        super().__init__(f"Unknown module '{module_id}'.{hint}")


class ModuleConfigError(ModuleError):
    """A config value is unknown, of the wrong type or out of range. Names the field."""

    def __init__(self, module_id: str, field: str, message: str):
        self.module_id = module_id
        self.field = field
        self.message = message
        super().__init__(f"{module_id}.{field}: {message}")


class ModuleDataError(ModuleError):
    """The input data lacks what the module needs (a column, enough rows, a DatetimeIndex)."""
