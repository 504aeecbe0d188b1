"""Reads. Every run belongs to its owner: other users see nothing (404, not 403)."""
from __future__ import annotations

from django.db.models import QuerySet

from backtests.models import BacktestRun, Trade


def backtest_list_for_user(*, user) -> QuerySet[BacktestRun]:
    return BacktestRun.objects.filter(owner=user).order_by("-created_at")


def backtest_get_for_user(*, user, run_id) -> BacktestRun | None:
    return BacktestRun.objects.filter(owner=user, id=run_id).first()


def trades_for_run(*, run: BacktestRun) -> QuerySet[Trade]:
    """A cached run shares the trades of the run it was answered from."""
    return Trade.objects.filter(run_id=run.cache_source_id or run.id).order_by("seq")


def backtest_get_by_idempotency_key(*, user, key: str) -> BacktestRun | None:
    return BacktestRun.objects.filter(owner=user, idempotency_key=key).first()
