"""The shared base of the position_sizing modules.

A sizing module is an ordinary module (spec, validation, per-bar numeric output), so the
API, the schema and the contract test treat it like any other. Its primary output is read
by the engine at the signal bar (the bar whose close triggers the entry, so no look-ahead)
and turned into units at the fill, according to the class's ``sizing_basis``:

- ``units``: the output is the number of units.
- ``risk_fraction``: the fraction of equity lost if the stop is hit:
  units = equity × value / stop distance. Without a stop the whole position is at risk,
  and the engine buys the whole equity (units = equity / entry price).
- ``units_per_equity``: units per 1 of equity: units = equity × value.
- ``equity_fraction``: the position's value as a fraction of equity:
  units = equity × value / entry price.

Equity is marked to market at the fill (the entry bar's open). A NaN, zero or negative
value skips the entry (e.g. during an ATR warm-up).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from modules.base import BaseModule

SIZING_BASES = ("units", "risk_fraction", "units_per_equity", "equity_fraction")


_kept: tuple[int, str, np.ndarray] | None = None  # the last constant output, shared read-only


class PositionSizingModule(BaseModule):
    category = "position_sizing"
    requires: ClassVar[tuple[str, ...]] = ("close",)
    sizing_basis: ClassVar[str] = ""

    @staticmethod
    def constant(length: int, value: float) -> np.ndarray:
        """``length`` times ``value`` (float64), read-only. The last one made is kept and handed to
        the next caller asking for the same: every run of a strategy sizes with the same constant
        over bars of the same length, and writing 8 MB per million bars afresh cost each run about
        a millisecond."""
        global _kept
        value = float(value)
        bits = value.hex()  # tells 0.0 from -0.0
        kept = _kept
        if kept is not None and kept[0] == length and kept[1] == bits:
            return kept[2]
        array = np.full(length, value, dtype=np.float64)
        array.flags.writeable = False
        _kept = (length, bits, array)
        return array
