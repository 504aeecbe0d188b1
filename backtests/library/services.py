"""Writes of the strategy library. Only these functions create versions, and a version once
written is never changed: a new body is a new version."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from backtests.library.checks import clean_tags, kind_of, market_of, strategy_check_body
from backtests.library.diff import body_patch, patch_summary
from backtests.library.transfer import import_check
from backtests.models import BacktestRun, Strategy, StrategyTemplate, StrategyVersion
from backtests.services import backtest_delete_runs
from backtests.strategies.templates import template_apply
from qm_platform.errors import CodedError

logger = logging.getLogger("qm.backtests")


def _check_name(*, user, name: Any, exclude_id: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise CodedError("INVALID_REQUEST", "name must be 1 to 200 characters", details={"field": "name"})
    name = name.strip()
    if Strategy.objects.filter(owner=user, name=name).exclude(id=exclude_id).exists():
        raise CodedError("DUPLICATE_NAME", f"you already have a strategy named {name!r}", details={"field": "name"})
    return name


def _duplicate(name: str) -> CodedError:
    return CodedError("DUPLICATE_NAME", f"you already have a strategy named {name!r}", details={"field": "name"})


def strategy_create(
    *, user, name: str, body: Any, description: str = "", tags: Any = None, summary: str = "first version"
) -> Strategy:
    """Save a new strategy with ``body`` as its version 1. Raises CodedError: the compiler's 400s
    for the body, 409 DUPLICATE_NAME for a name the user already has."""
    name = _check_name(user=user, name=name)
    tags = clean_tags(tags)
    body = strategy_check_body(user=user, body=body)
    try:
        with transaction.atomic():
            strategy = Strategy.objects.create(
                owner=user,
                name=name,
                description=description or "",
                tags=tags,
                kind=kind_of(body),
                market=market_of(body),
                definition=body,
                latest_version=1,
            )
            StrategyVersion.objects.create(strategy=strategy, number=1, body=body, summary=summary[:300])
    except IntegrityError:  # the same name saved concurrently
        raise _duplicate(name) from None
    logger.info("strategy saved", extra={"user": user.pk})
    return strategy


def _add_version(strategy: Strategy, body: dict, summary: str | None = None) -> StrategyVersion | None:
    """Append ``body`` as the strategy's next version under a row lock; None when it equals the
    latest (no empty versions)."""
    locked = Strategy.objects.select_for_update().get(id=strategy.id)
    patch = body_patch(locked.definition, body)
    if not patch:
        return None
    number = locked.latest_version + 1
    version = StrategyVersion.objects.create(
        strategy=locked,
        number=number,
        body=body,
        summary=(summary or patch_summary(patch, old=locked.definition))[:300],
    )
    Strategy.objects.filter(id=strategy.id).update(
        definition=body, latest_version=number, kind=kind_of(body), market=market_of(body), updated_at=timezone.now()
    )
    return version


def strategy_update(
    *,
    strategy: Strategy,
    name: str | None = None,
    description: str | None = None,
    tags: Any = None,
    body: Any = None,
) -> Strategy:
    """Rename, describe, tag the strategy; a ``body`` that differs from the latest version's is
    checked by the compiler and saved as a new version (an equal one changes nothing)."""
    user = strategy.owner
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = _check_name(user=user, name=name, exclude_id=strategy.id)
    if description is not None:
        changes["description"] = description
    if tags is not None:
        changes["tags"] = clean_tags(tags)
    checked = strategy_check_body(user=user, body=body) if body is not None else None
    try:
        with transaction.atomic():
            if changes:
                Strategy.objects.filter(id=strategy.id).update(**changes, updated_at=timezone.now())
            if checked is not None:
                _add_version(strategy, checked)
    except IntegrityError:
        raise _duplicate(changes.get("name", strategy.name)) from None
    strategy.refresh_from_db()
    return strategy


def strategy_delete(*, strategy: Strategy, delete_runs: bool = False) -> dict[str, int]:
    """Delete the strategy and its versions. Its runs stay (each keeps its own request and shows
    the strategy as deleted; a schedule naming it pauses when it next fires) unless
    ``delete_runs``: then the runs that came from it go too, with their trades and PDFs."""
    with transaction.atomic():
        deleted = {"runs": 0, "trades": 0, "report_files": 0}
        if delete_runs:
            deleted = backtest_delete_runs(runs=BacktestRun.objects.filter(strategy=strategy))
        strategy.delete()
    return {"strategies": 1, **deleted}


def strategy_copy_template(*, user, template_id: str, name: str | None = None) -> Strategy:
    """Copy a template into the user's library as a new strategy (its body as version 1)."""
    body = template_apply(template_id, {})  # 400 TEMPLATE_NOT_FOUND naming the ones there are
    template = StrategyTemplate.objects.get(id=template_id)
    return strategy_create(
        user=user,
        name=name or template.name,
        body=body,
        description=template.description,
        tags=["template", template.kind],
        summary=f"copied from the template {template.id}",
    )


def strategy_import(*, user, document: Any, name: str | None = None) -> Strategy:
    """Import an exported strategy file with all its versions, in the file's order (numbered 1, 2,
    ... again). Every problem is reported at once, by path: 400 INVALID_IMPORT with
    ``details.problems``; nothing is saved unless the whole file is valid."""
    checked = import_check(user=user, document=document, name=name)
    with transaction.atomic():
        first, *rest = checked.versions
        strategy = strategy_create(
            user=user,
            name=checked.name,
            body=first.body,
            description=checked.description,
            tags=checked.tags,
            summary=first.summary or "imported",
        )
        for version in rest:  # an equal body in a row (a hand-made file) adds no version
            _add_version(strategy, version.body, version.summary or None)
    strategy.refresh_from_db()
    return strategy
