"""Auto-discovery of modules: every ``modules/<category>/<module_id>.py`` defines one module.

The interface follows the original report: ``get_registry()`` returns a process-wide
singleton with ``get_module``, ``get_modules_by_category`` and ``list_available_modules``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
import threading
from pathlib import Path

from .base import BaseModule
from .errors import ModuleNotFound

PACKAGE_DIR = Path(__file__).resolve().parent
# Sub-packages that hold shared code, not modules.
NON_CATEGORIES = {"tests", "common", "__pycache__"}


class ModuleRegistry:
    def __init__(self) -> None:
        self._modules: dict[str, type[BaseModule]] = {}

    def discover_modules(self) -> None:
        for category_dir in sorted(p for p in PACKAGE_DIR.iterdir() if p.is_dir()):
            category = category_dir.name
            if category in NON_CATEGORIES or not (category_dir / "__init__.py").exists():
                continue
            for info in pkgutil.iter_modules([str(category_dir)]):
                if info.name.startswith("_"):
                    continue
                py_module = importlib.import_module(f"{__package__}.{category}.{info.name}")
                classes = [
                    obj
                    for _, obj in inspect.getmembers(py_module, inspect.isclass)
                    if issubclass(obj, BaseModule)
                    and obj is not BaseModule
                    and obj.__module__ == py_module.__name__
                    and not inspect.isabstract(obj)
                ]
                if len(classes) != 1:
                    raise RuntimeError(f"{py_module.__name__} must define exactly one module, found {len(classes)}")
                cls = classes[0]
                if cls.module_id != info.name or cls.category != category:
                    raise RuntimeError(
                        f"{cls.__name__}: module_id/category must be {info.name!r}/{category!r} (file location)"
                    )
                if info.name in self._modules:
                    raise RuntimeError(f"duplicate module id {info.name!r}")
                self._modules[info.name] = cls

    def get_module(self, module_id: str) -> type[BaseModule]:
        try:
            return self._modules[module_id]
        except KeyError:
            available = sorted(self._modules)
            close = difflib.get_close_matches(str(module_id), available, n=3, cutoff=0.6)
            raise ModuleNotFound(str(module_id), close, available) from None

    def has_module(self, module_id: str) -> bool:
        return module_id in self._modules

    def get_modules_by_category(self, category: str) -> list[type[BaseModule]]:
        return [cls for _, cls in sorted(self._modules.items()) if cls.category == category]

    def list_available_modules(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for module_id, cls in sorted(self._modules.items()):
            out.setdefault(cls.category, []).append(module_id)
        return dict(sorted(out.items()))

    def all(self) -> list[type[BaseModule]]:
        return [cls for _, cls in sorted(self._modules.items())]

    def __len__(self) -> int:
        return len(self._modules)


_registry: ModuleRegistry | None = None
_lock = threading.Lock()


def get_registry() -> ModuleRegistry:
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                registry = ModuleRegistry()
                registry.discover_modules()
                _registry = registry
    return _registry
