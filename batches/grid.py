"""Parameter grids over a request body. Pure: no Django, no ORM.

A grid maps paths into the request to lists of values::

    {"decisionBlocks[0].subConfirmations[0].config.period": [7, 14, 21], "exit.takeProfit": [1.5, 2, 3]}

``markets`` and ``timeframes`` are two more dimensions (``marketContext.market`` and
``marketContext.timeframe``). Combinations are numbered in mixed radix (the last dimension
varies fastest), so a seeded sample of N combinations never materialises the full product.
"""

from __future__ import annotations

import copy
import difflib
import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from qm_platform.errors import CodedError

MARKET_PATH = "marketContext.market"
TIMEFRAME_PATH = "marketContext.timeframe"
_TOKEN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")


class GridError(CodedError):
    """An invalid grid: ``code`` and ``details`` go straight into the API error."""


def parse_path(path: str) -> list[str | int]:
    """``"a[0].b.c[2]"`` → ``["a", 0, "b", "c", 2]``. Raises GridError on a malformed path."""
    if not isinstance(path, str) or not path or len(path) > 300:
        raise GridError("INVALID_GRID_PATH", f"grid path {path!r} is not a dotted path", {"path": path})
    keys: list[str | int] = []
    for token in path.split("."):
        match = _TOKEN.match(token)
        if not match:
            raise GridError(
                "INVALID_GRID_PATH",
                f"grid path {path!r}: {token!r} is not a key with optional [index] suffixes",
                {"path": path},
            )
        keys.append(match.group(1))
        keys.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return keys


def _describe(keys: Sequence[str | int]) -> str:
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out


def check_path(body: dict, path: str, *, known_leaf_keys=None) -> list[str | int]:
    """Check that ``path`` points into ``body``: every container on the way exists, and the
    leaf exists or is a key ``known_leaf_keys(body, parent_path_keys, parent)`` accepts (e.g. a
    module parameter left at its default). Returns the parsed keys."""
    keys = parse_path(path)
    node: Any = body
    for depth, key in enumerate(keys):
        here = _describe(keys[:depth]) or "the request"
        last = depth == len(keys) - 1
        if isinstance(key, int):
            if not isinstance(node, list):
                raise GridError(
                    "INVALID_GRID_PATH", f"grid path {path!r}: {here} is not a list", {"path": path, "at": here}
                )
            if key >= len(node):
                raise GridError(
                    "INVALID_GRID_PATH",
                    f"grid path {path!r}: {here} has {len(node)} item(s), no index {key}",
                    {"path": path, "at": here, "length": len(node)},
                )
            node = node[key]
            continue
        if not isinstance(node, dict):
            raise GridError(
                "INVALID_GRID_PATH", f"grid path {path!r}: {here} is not an object", {"path": path, "at": here}
            )
        if key not in node:
            extra = set(known_leaf_keys(body, keys[:depth], node)) if (last and known_leaf_keys) else set()
            if key in extra:
                return keys
            options = sorted(set(node) | extra)
            close = difflib.get_close_matches(key, options, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise GridError(
                "INVALID_GRID_PATH",
                f"grid path {path!r}: no {key!r} in {here}{hint}",
                {"path": path, "at": here, "available": options, "suggestions": close},
            )
        node = node[key]
    if isinstance(node, (dict, list)) and node:
        raise GridError(
            "INVALID_GRID_PATH",
            f"grid path {path!r} points at a whole "
            f"{'object' if isinstance(node, dict) else 'list'}; sweep a single value",
            {"path": path},
        )
    return keys


def set_path(body: dict, keys: Sequence[str | int], value: Any) -> None:
    node: Any = body
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value


def dedupe(values: Sequence[Any]) -> list[Any]:
    """Distinct values in their first order (identical combinations would only repeat work)."""
    out, seen = [], set()
    for value in values:
        marker = repr(value)
        if marker not in seen:
            seen.add(marker)
            out.append(value)
    return out


@dataclass(frozen=True)
class Grid:
    """The dimensions of a sweep: ``names`` (the paths as the user wrote them, ``market`` and
    ``timeframe`` for the list options), their parsed ``keys`` and ``values``."""

    names: tuple[str, ...]
    keys: tuple[tuple[str | int, ...], ...]
    values: tuple[tuple[Any, ...], ...]

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.values) if self.values else 1

    def combination(self, index: int) -> dict[str, Any]:
        """The parameters of combination ``index`` (0 <= index < size), last dimension fastest."""
        params: dict[str, Any] = {}
        for name, values in zip(reversed(self.names), reversed(self.values)):
            index, digit = divmod(index, len(values))
            params[name] = values[digit]
        return dict(reversed(list(params.items())))

    def indices(self, sample: dict | None) -> list[int]:
        """All combination indices, or a seeded random sample of ``sample["n"]`` of them (sorted)."""
        if not sample:
            return list(range(self.size))
        n = min(int(sample["n"]), self.size)
        return sorted(random.Random(sample.get("seed", 0)).sample(range(self.size), n))

    def apply(self, body: dict, params: dict[str, Any]) -> dict:
        """A deep copy of ``body`` with the combination's values written in."""
        out = copy.deepcopy(body)
        for name, keys in zip(self.names, self.keys):
            set_path(out, keys, params[name])
        return out

    def iter_bodies(self, body: dict, indices: Sequence[int]) -> Iterator[tuple[int, dict, dict]]:
        for index in indices:
            params = self.combination(index)
            yield index, params, self.apply(body, params)


def build_grid(
    body: dict,
    grid: dict | None,
    markets: Sequence[str] | None = None,
    timeframes: Sequence[str] | None = None,
    *,
    known_leaf_keys=None,
    max_values: int = 10_000,
) -> Grid:
    """Validate every path against ``body`` up front and return the Grid. Raises GridError."""
    grid = grid or {}
    if not isinstance(grid, dict):
        raise GridError("INVALID_GRID", "grid must be an object of path → list of values")
    names, keys, values = [], [], []
    for path, raw in grid.items():
        if path in (MARKET_PATH, TIMEFRAME_PATH):
            raise GridError("INVALID_GRID", f"sweep {path} with the 'markets' / 'timeframes' lists", {"path": path})
        parsed = check_path(body, path, known_leaf_keys=known_leaf_keys)
        if not isinstance(raw, list) or not raw:
            raise GridError("INVALID_GRID", f"grid[{path!r}] must be a non-empty list of values", {"path": path})
        if len(raw) > max_values:
            raise GridError(
                "INVALID_GRID", f"grid[{path!r}] has {len(raw):,} values; at most {max_values:,}", {"path": path}
            )
        if any(isinstance(v, (dict, list)) for v in raw):
            raise GridError(
                "INVALID_GRID", f"grid[{path!r}] values must be numbers, strings, booleans or null", {"path": path}
            )
        names.append(path)
        keys.append(tuple(parsed))
        values.append(tuple(dedupe(raw)))
    for name, path, options in (("market", MARKET_PATH, markets), ("timeframe", TIMEFRAME_PATH, timeframes)):
        if options:
            names.append(name)
            keys.append(tuple(parse_path(path)))
            values.append(tuple(dedupe(options)))
    return Grid(tuple(names), tuple(keys), tuple(values))
