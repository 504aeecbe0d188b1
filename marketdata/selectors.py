"""Market data reads."""

from __future__ import annotations

import io

from django.db.models import Q, QuerySet

from accounts.privacy import ExportFile, ExportPart
from backtests.engine.instrument import Instrument as EngineInstrument
from backtests.engine.instrument import generic_instrument
from marketdata.instrument_table import base_symbol, shipped_table, unknown_instrument_warning
from marketdata.models import Dataset, Instrument
from marketdata.services import get_data_manager


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


def dataset_export_for_user(*, user) -> ExportPart:
    """The user's uploaded datasets for their data export (registered in accounts.privacy):
    the rows, and each dataset's stored bars as ``datasets/<id>-<symbol>-<timeframe>.csv``.
    Shared provider caches belong to no one and are not included."""
    datasets = Dataset.objects.filter(owner=user).order_by("id")
    files = [
        ExportFile(path=f"datasets/{d.id}-{d.symbol}-{d.timeframe}.csv", open=_csv_opener(d.storage_key, d.timeframe))
        for d in datasets
    ]
    return ExportPart(data={"datasets": list(datasets.values())}, files=files)


def _csv_opener(storage_key: str, timeframe: str):
    def open_csv() -> io.BytesIO:
        frame = get_data_manager().storage.get_data(storage_key, timeframe)
        return io.BytesIO(b"" if frame is None else frame.to_csv().encode())

    return open_csv


def instrument_resolve(*, symbol: str) -> tuple[EngineInstrument, str | None]:
    """The instrument a run of ``symbol`` trades: the admin's row, else the shipped table's,
    else the documented generic default with a warning for the run (the second value)."""
    base = base_symbol(symbol)
    row = Instrument.objects.filter(symbol=base).first()
    if row is not None:
        return row.as_engine(), None
    shipped = shipped_table().get(base)
    if shipped is not None:
        return shipped, None
    return generic_instrument(base), unknown_instrument_warning(base)
