"""The shipped instrument table (``instruments.json``): read, checked, and turned into the
engine's :class:`~backtests.engine.instrument.Instrument`. The migration seeds
``marketdata.Instrument`` from it; the live values are the database's (admin-editable).
No Django import here, so the migration and the tests can use it as plain data."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from backtests.engine.instrument import Instrument, generic_instrument

TABLE_PATH = Path(__file__).with_name("instruments.json")


@cache
def shipped_table() -> dict[str, Instrument]:
    """Symbol → Instrument for every row of instruments.json (a bad row raises ValueError)."""
    rows = json.loads(TABLE_PATH.read_text())["instruments"]
    table = {}
    for row in rows:
        instrument = Instrument.from_dict(row)
        if instrument.symbol in table:
            raise ValueError(f"instruments.json lists {instrument.symbol} twice")
        table[instrument.symbol] = instrument
    return table


def seed_rows() -> list[dict]:
    """The table's rows as model field values (every dataclass field but ``generic``)."""
    return [{k: v for k, v in i.to_dict().items() if k != "generic"} for i in shipped_table().values()]


def base_symbol(symbol: str) -> str:
    """``xauusd@yahoo`` → ``XAUUSD``: the table is keyed by the market, not its storage name."""
    return symbol.upper().split("@", 1)[0]


def unknown_instrument_warning(symbol: str) -> str:
    generic = generic_instrument(symbol)
    return (
        f"{generic.symbol} is not in the instrument table: it trades with the generic default (tick "
        f"{generic.tick_size:g}, lots of {generic.contract_size:g} unit in steps of {generic.lot_step:g}, "
        f"leverage up to {generic.max_leverage:g}:1, no financing, no default costs). Add it in the admin "
        "(Market data › Instruments) for its real terms."
    )
