"""Imports point one way: batches sits above backtests, marketdata, reports and the pure
libraries, so none of them imports it (BacktestRun.batch names "batches.Batch" as a string),
and inside batches nothing imports the task module back: the tasks import the services, the
services send tasks by name."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BELOW = ("qm_platform", "modules", "backtests", "marketdata", "reports")
COMPOSITION_ROOT = {"qm_platform/urls.py", "qm_platform/celery.py", "qm_platform/wsgi.py", "qm_platform/asgi.py"}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def python_files(folder: str):
    return [p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts]


def test_nothing_below_batches_imports_it():
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in imported_modules(path) if n.split(".")[0] == "batches")
        for folder in BELOW
        for path in python_files(folder)
        if str(path.relative_to(ROOT)) not in COMPOSITION_ROOT
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_of_batches_imports_the_tasks_back():
    importers = {
        str(path.relative_to(ROOT))
        for path in python_files("batches")
        if "batches.tasks" in imported_modules(path) and "tests" not in path.parts
    }
    assert importers == set()
