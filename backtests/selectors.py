"""Reads. Every run belongs to its owner: other users see nothing (404, not 403)."""
from __future__ import annotations

from django.db.models import QuerySet

from backtests.models import BacktestRun, Trade


def backtest_list_for_user(*, user) -> QuerySet[BacktestRun]:
    return BacktestRun.objects.filter(owner=user).order_by("-created_at")


def backtest_get_for_user(*, user, run_id) -> BacktestRun | None:
    return BacktestRun.objects.filter(owner=user, id=run_id).first()


def trades_for_run(*, run: BacktestRun) -> QuerySet[Trade]:
    return Trade.objects.filter(run=run).order_by("seq")
