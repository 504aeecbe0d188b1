"""The GDPR registry: the apps above ``accounts`` say here how to export and delete a user's data.

``accounts`` may not import backtests, marketdata or batches (they sit above it), so each of
them registers its part from ``AppConfig.ready()``::

    register_exporter("backtests", selectors.backtest_export_for_user, services.backtest_delete_for_user)

``export_fn(*, user) -> ExportPart``: JSON-serialisable data (DjangoJSONEncoder: datetimes,
UUIDs and decimals are fine) and the files to put in the archive, opened only when written.
``delete_fn(*, user) -> dict``: deletes the user's rows and stored files (files first, so a
failure leaves rows that a retry can find), and returns counts of what went.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

_SAFE_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@=^-]*(/[A-Za-z0-9][A-Za-z0-9._@=^-]*)*$")


@dataclass(frozen=True)
class ExportFile:
    """A file in the archive, under ``files/<exporter>/<path>``; ``open()`` returns a binary
    stream that the archive reads to its end and closes."""

    path: str
    open: Callable[[], IO[bytes]]

    def __post_init__(self):
        if not _SAFE_PATH.match(self.path) or ".." in self.path.split("/"):
            raise ValueError(f"unsafe path in an export: {self.path!r}")


@dataclass(frozen=True)
class ExportPart:
    data: Any
    files: list[ExportFile] = field(default_factory=list)


@dataclass(frozen=True)
class Exporter:
    name: str
    export: Callable[..., ExportPart]
    delete: Callable[..., dict[str, Any]]


_exporters: dict[str, Exporter] = {}


def register_exporter(
    name: str, export_fn: Callable[..., ExportPart], delete_fn: Callable[..., dict[str, Any]]
) -> None:
    """Register (or replace: ``ready()`` may run twice in tests) the export and deletion of one
    app's user data under ``name``, the section of ``data.json`` it fills."""
    if name in ("account", "api_keys", "audit"):
        raise ValueError(f"{name!r} is the account's own section of the export")
    _exporters[name] = Exporter(name, export_fn, delete_fn)


def registered() -> list[str]:
    return list(_exporters)


def export_all(*, user) -> Iterator[tuple[str, ExportPart]]:
    for exporter in list(_exporters.values()):
        yield exporter.name, exporter.export(user=user)


def delete_all(*, user) -> Iterator[tuple[str, dict[str, Any]]]:
    """Deletes in the reverse order of registration: apps higher up (registered later, e.g.
    batches after backtests) go before what they point at."""
    for exporter in reversed(list(_exporters.values())):
        yield exporter.name, exporter.delete(user=user)
