"""The difference between two strategy bodies: a JSON Patch (RFC 6902, the ``jsonpatch``
library) and a short summary of it for people (``exit.takeProfit 2 → 3; + decisionBlocks[1]``)."""

from __future__ import annotations

import json
from typing import Any

import jsonpatch

SUMMARY_LENGTH = 300  # StrategyVersion.summary
VALUE_LENGTH = 40


def body_patch(old: Any, new: Any) -> list[dict]:
    """The JSON Patch operations that turn ``old`` into ``new`` (empty when they are equal)."""
    return jsonpatch.make_patch(old, new).patch


def readable_path(pointer: str) -> str:
    """A JSON Pointer as a dotted path: ``/decisionBlocks/0/config/period`` → ``decisionBlocks[0].config.period``."""
    out = ""
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "(the whole body)"


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= VALUE_LENGTH else text[: VALUE_LENGTH - 1] + "…"


def patch_summary(patch: list[dict], *, old: Any = None, limit: int = SUMMARY_LENGTH) -> str:
    """One line saying what a patch of ``old`` changes, at most ``limit`` characters ("no change"
    when empty); a replaced value shows its old value when ``old`` is given."""
    if not patch:
        return "no change"
    parts = []
    for op in patch:
        path = readable_path(op["path"])
        if op["op"] == "replace":
            before = jsonpatch.JsonPointer(op["path"]).resolve(old, None) if old is not None else None
            prefix = f"{_short(before)} " if before is not None else ""
            parts.append(f"{path} {prefix}→ {_short(op['value'])}")
        elif op["op"] == "add":
            parts.append(f"+ {path}")
        elif op["op"] == "remove":
            parts.append(f"− {path}")
        else:  # move, copy
            parts.append(f"{path} ({op['op']} from {readable_path(op['from'])})")
    text = ""
    for shown, part in enumerate(parts):
        more = f"; … (+{len(parts) - shown} more)"
        candidate = f"{text}; {part}" if text else part
        if len(candidate) + (len(more) if shown < len(parts) - 1 else 0) > limit:
            return (text + more)[:limit] if text else part[: limit - 1] + "…"
        text = candidate
    return text
