"""Imports point one way, and no module imports itself back through others.

    qm_platform (settings, errors, env) ← accounts ← modules ← backtests.engine ← plans
        ← marketdata ← reports ← backtests ← batches ← workers

(``accounts`` imports only qm_platform; the apps above fill its GDPR registry from ready().)

Every import of the project's own code is read from the source (``ast``, function-level
imports included) — nothing is imported or run. A module may import from its own layer and
the layers below it; only the composition root (urls, wsgi, asgi, celery, settings and the
operations endpoints) may import from above. Tests and migrations are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Lowest first. A dotted prefix wins over a shorter one (backtests.engine before backtests).
LAYERS = [
    ("qm_platform",),
    ("accounts",),
    ("modules",),
    ("backtests.engine",),
    ("plans",),
    ("marketdata",),
    ("reports",),
    ("backtests",),
    ("batches",),
    ("workers",),
]
COMPOSITION_ROOT = {
    "qm_platform.urls",
    "qm_platform.wsgi",
    "qm_platform.asgi",
    "qm_platform.celery",
    "qm_platform.settings",
    "qm_platform.settings_test",
    "qm_platform.health",
}
PACKAGES = {prefix[0].split(".")[0] for prefix in LAYERS}


def layer_of(module: str) -> int | None:
    best, rank = -1, None
    for i, (prefix,) in enumerate(LAYERS):
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
            best, rank = len(prefix), i
    return rank


def project_modules() -> dict[str, Path]:
    found = {}
    for package in sorted(PACKAGES):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (resolved to the longest known module name)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        candidates: list[str] = []
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
                break
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def test_the_graph_reads_the_code():
    graph = import_graph()
    assert "backtests.services" in graph and "marketdata.services" in graph["backtests.services"]
    assert "backtests.engine.run" in graph and "modules.registry" in graph["backtests.engine.run"]


def test_imports_point_one_way():
    upward = []
    for name, targets in import_graph().items():
        if name in COMPOSITION_ROOT:
            continue
        own = layer_of(name)
        for target in targets:
            other = layer_of(target)
            if own is not None and other is not None and other > own:
                upward.append(f"{name} → {target}")
    assert not upward, "imports that point up the layers:\n" + "\n".join(sorted(upward))


def test_no_module_imports_itself_back():
    graph = {name: {t for t in targets if t not in COMPOSITION_ROOT} for name, targets in import_graph().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, "modules that import each other in a circle:\n" + "\n".join(" ↔ ".join(c) for c in circles)
