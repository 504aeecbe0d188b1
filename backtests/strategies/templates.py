"""Strategy templates: ready bodies stored as data (``backtests/strategy_templates/*.json``),
loaded into the StrategyTemplate model, and applied with deep-merged overrides."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from qm_platform.errors import CodedError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "strategy_templates"


def template_files() -> list[dict]:
    """Every shipped template, as stored in its JSON file."""
    return [json.loads(path.read_text()) for path in sorted(TEMPLATE_DIR.glob("*.json"))]


def templates_load(*, apps=None) -> int:
    """Upsert the shipped templates into the database (data migration and ``load_templates``)."""
    if apps is None:
        from backtests.models import StrategyTemplate
    else:  # inside a migration: the historical model
        StrategyTemplate = apps.get_model("backtests", "StrategyTemplate")
    for item in template_files():
        StrategyTemplate.objects.update_or_create(
            id=item["id"],
            defaults={
                "name": item["name"],
                "kind": item["kind"],
                "description": item["description"],
                "body": item["body"],
            },
        )
    return len(template_files())


def deep_merge(base: Any, override: Any) -> Any:
    """Objects merge key by key; anything else (lists included) is replaced by the override."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def template_apply(template_id: Any, overrides: dict) -> dict:
    from backtests.models import StrategyTemplate

    template = StrategyTemplate.objects.filter(id=str(template_id)).first() if isinstance(template_id, str) else None
    if template is None:
        available = list(StrategyTemplate.objects.values_list("id", flat=True))
        raise CodedError(
            "TEMPLATE_NOT_FOUND", f"no template {template_id!r}", details={"field": "template", "available": available}
        )
    body = deep_merge(template.body, overrides)
    body.setdefault("strategyName", template.name)  # the report's title; the caller's own name wins
    if template.kind == "ict":
        body.setdefault("kind", "ict")
    return body
