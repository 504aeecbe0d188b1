"""Market data reads."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from marketdata.models import Dataset


def _visible_to(user) -> Q:
    """Shared caches (no owner) and the user's own uploads."""
    return Q(owner__isnull=True) | Q(owner=user)


def dataset_get(*, dataset_id: int, user=None) -> Dataset | None:
    """A dataset by id; with ``user``, only one that user may see."""
    qs = Dataset.objects.filter(id=dataset_id)
    if user is not None:
        qs = qs.filter(_visible_to(user))
    return qs.first()


def dataset_list(
    *, user, symbol: str | None = None, timeframe: str | None = None, source: str | None = None
) -> QuerySet[Dataset]:
    qs = Dataset.objects.filter(_visible_to(user))
    if symbol:
        qs = qs.filter(symbol=symbol.upper())
    if timeframe:
        qs = qs.filter(timeframe=timeframe)
    if source:
        qs = qs.filter(source=source)
    return qs.order_by("symbol", "timeframe", "source", "id")
