"""The error contract in sentences, for pages: a person reads "marketContext.timeframe: "2h" is
not a valid choice.", never ``{'fields': {...: [ErrorDetail(string=..., code=...)]}}``.

``error_lines(error)`` takes a :class:`~qm_platform.errors.CodedError` (or the contract's
``{"error", "code", "details"}`` dict) and answers the lines a page shows under the error's
message: one per field problem (DRF's nested ``details.fields`` flattened to dotted paths),
then the close matches and the allowed values the details carry. Pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# details keys that list alternatives, and how a page introduces them
_ALTERNATIVES = (
    ("close_matches", "Did you mean {}?", " or "),
    ("suggestions", "Did you mean {}?", " or "),
    ("allowed", "Allowed values: {}.", ", "),
    ("options", "Allowed values: {}.", ", "),
    ("operators", "Operators: {}.", ", "),
    ("larger_timeframes", "Larger timeframes that reach that far back: {}.", ", "),
)


def _field_problems(detail: Any, path: str = "") -> list[str]:
    """Every message of a DRF error tree as "path: message" lines."""
    if isinstance(detail, Mapping):
        lines = []
        for key, value in detail.items():
            key = str(key)
            child = path if key == "non_field_errors" else (f"{path}.{key}" if path else key)
            lines += _field_problems(value, child)
        return lines
    if isinstance(detail, (list, tuple)):
        lines = []
        for index, value in enumerate(detail):
            if isinstance(value, (Mapping, list, tuple)):  # a list of objects: name the item
                lines += _field_problems(value, f"{path}[{index}]")
            else:
                lines += _field_problems(value, path)
        return lines
    text = str(detail).strip()
    if not text:
        return []
    if text[-1] not in ".?!":
        text += "."
    return [f"{path}: {text}" if path else text]


def error_lines(error: Any) -> list[str]:
    """The lines that explain ``error`` beyond its message (which the page shows first)."""
    if error is None:
        return []
    details = error.get("details") if isinstance(error, Mapping) else getattr(error, "details", None)
    if not isinstance(details, Mapping):
        return []
    lines = _field_problems(details["fields"]) if "fields" in details else []
    for key, template, joiner in _ALTERNATIVES:
        values = details.get(key)
        if isinstance(values, (list, tuple)) and values and len(values) <= 30:
            line = template.format(joiner.join(str(v) for v in values))
            if line not in lines:
                lines.append(line)
    field = details.get("field")
    if field and not lines:
        lines.append(f"Field: {field}.")
    return lines


def error_message(error: Any) -> str:
    """The error's own sentence (the contract's ``error``)."""
    if isinstance(error, Mapping):
        return str(error.get("error", ""))
    return str(getattr(error, "message", error))
