"""Imports point one way: reports sits below backtests (and batches, workers) and imports
nothing from them; backtests hands a report what it shows."""

import ast
from pathlib import Path

ABOVE = ("backtests", "batches", "workers")
REPORTS = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_reports_import_nothing_from_the_layers_above():
    sources = [p for p in REPORTS.rglob("*.py") if "tests" not in p.relative_to(REPORTS).parts]
    assert sources
    offending = {
        str(path.relative_to(REPORTS)): sorted(n for n in imported_modules(path) if n.split(".")[0] in ABOVE)
        for path in sources
    }
    assert {path: names for path, names in offending.items() if names} == {}
