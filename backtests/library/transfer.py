"""A strategy as a file: the export document (all versions) and the checks of an import.

The file is JSON::

    {"format": "quantmetrics.strategy", "format_version": 1, "name": "...", "description": "...",
     "tags": [...], "kind": "v4", "exported_at": "...",
     "versions": [{"number": 1, "created_at": "...", "summary": "...", "body": {...}}, ...]}

An import checks everything before it saves anything and reports every problem with its path in
the file (``versions[1].body.exit.stopLoss``), the way the compiler names a field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from backtests.library.checks import clean_tags, strategy_check_body
from backtests.models import Strategy
from qm_platform.errors import CodedError

FORMAT = "quantmetrics.strategy"
FORMAT_VERSION = 1
MAX_VERSIONS = 500


def strategy_export(*, strategy: Strategy) -> dict:
    """The strategy and every version, oldest first, as the import takes it back."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": strategy.name,
        "description": strategy.description,
        "tags": list(strategy.tags or []),
        "kind": strategy.kind,
        "exported_at": timezone.now().isoformat(),
        "versions": [
            {"number": v.number, "created_at": v.created_at.isoformat(), "summary": v.summary, "body": v.body}
            for v in strategy.versions.order_by("number")
        ],
    }


@dataclass(frozen=True)
class ImportedVersion:
    body: dict
    summary: str


@dataclass(frozen=True)
class CheckedImport:
    name: str
    description: str
    tags: list[str]
    versions: list[ImportedVersion]


def _flatten(errors: Any, prefix: str) -> list[tuple[str, str]]:
    """DRF's nested error structure as (path, message) pairs."""
    if isinstance(errors, dict):
        out = []
        for key, value in errors.items():
            if key == "non_field_errors":
                out += _flatten(value, prefix)
            else:
                out += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(errors, list):
        if all(isinstance(item, str) for item in errors):
            return [(prefix, " ".join(str(item) for item in errors))]
        out = []
        for index, item in enumerate(errors):
            if item:
                out += _flatten(item, f"{prefix}[{index}]")
        return out
    return [(prefix, str(errors))]


def _problems_of(exc: CodedError, prefix: str) -> list[dict]:
    """Every problem a CodedError of the compiler names, each at its path under ``prefix``."""
    fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
    if fields:
        return [{"path": path, "code": exc.code, "message": message} for path, message in _flatten(fields, prefix)]
    field = exc.details.get("field") if isinstance(exc.details, dict) else None
    if not field:
        path = prefix
    else:
        path = field if str(field).startswith(prefix) else f"{prefix}.{field}"
    return [{"path": path, "code": exc.code, "message": exc.message}]


def import_check(*, user, document: Any, name: str | None = None) -> CheckedImport:
    """Check an export file for ``user``: its shape, the name (``name`` overrides the file's; it
    must not be one of the user's strategies already) and every version's body, compiled as a
    submission would be. Raises 400 INVALID_IMPORT listing every problem (``details.problems``:
    ``{"path", "code", "message"}``), or returns what to save."""
    problems: list[dict] = []

    def problem(path: str, message: str, code: str = "INVALID_IMPORT") -> None:
        problems.append({"path": path, "code": code, "message": message})

    if not isinstance(document, dict):
        raise CodedError(
            "INVALID_IMPORT",
            "the file is not a strategy export (a JSON object)",
            details={"problems": [{"path": "(file)", "code": "INVALID_IMPORT", "message": "expected an object"}]},
        )
    if document.get("format", FORMAT) != FORMAT:
        problem("format", f"expected {FORMAT!r}, got {document.get('format')!r}")
    if document.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        problem("format_version", f"this server reads version {FORMAT_VERSION} files")
    chosen = name if name is not None else document.get("name")
    if not isinstance(chosen, str) or not chosen.strip() or len(chosen.strip()) > 200:
        problem("name", "must be 1 to 200 characters")
    elif Strategy.objects.filter(owner=user, name=chosen.strip()).exists():
        problem("name", f"you already have a strategy named {chosen.strip()!r}; import it under another name")
    description = document.get("description") or ""
    if not isinstance(description, str):
        problem("description", "must be text")
        description = ""
    tags: list[str] = []
    try:
        tags = clean_tags(document.get("tags"))
    except CodedError as exc:
        problem("tags", exc.message)
    versions = document.get("versions")
    checked: list[ImportedVersion] = []
    if not isinstance(versions, list) or not versions or len(versions) > MAX_VERSIONS:
        problem("versions", f"must be a list of 1 to {MAX_VERSIONS} versions")
        versions = []
    for index, version in enumerate(versions):
        path = f"versions[{index}]"
        if not isinstance(version, dict) or "body" not in version:
            problem(path, 'each version must be an object with a "body"')
            continue
        summary = version.get("summary") or ""
        if not isinstance(summary, str):
            problem(f"{path}.summary", "must be text")
            summary = ""
        try:
            body = strategy_check_body(user=user, body=version["body"], field=f"{path}.body")
        except CodedError as exc:
            problems.extend(_problems_of(exc, f"{path}.body"))
            continue
        checked.append(ImportedVersion(body=body, summary=summary[:300]))
    if problems:
        raise CodedError(
            "INVALID_IMPORT",
            f"the file has {len(problems)} problem{'s' if len(problems) != 1 else ''}: "
            + "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
            + (" …" if len(problems) > 5 else ""),
            details={"problems": problems},
        )
    return CheckedImport(name=str(chosen).strip(), description=description, tags=tags, versions=checked)
