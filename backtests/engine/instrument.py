"""What the engine knows about the traded instrument (pure): its grid (tick, lot step, minimum),
contract size, margin, whether it may be shorted, default costs and financing.

The table of instruments is data (``marketdata/instruments.json``, editable in the admin as
``marketdata.Instrument``); the request compiler resolves a run's symbol to one
:class:`Instrument` and the engine applies it. Money is in the instrument's quote currency
(``quote_currency``); the engine does not convert currencies. See docs/engine.md ("Instruments").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any

ASSET_CLASSES = ("fx", "metal", "index", "crypto", "stock", "future", "other")
FINANCING_KINDS = ("none", "swap", "borrow", "funding")
CALENDARS = ("fx", "crypto", "index")


@dataclass(frozen=True)
class Instrument:
    """One tradable symbol. Sizes in the engine are *units* (ounces, coins, currency units,
    index points' contracts); a *lot* is ``contract_size`` units.

    - ``tick_size`` (price): fills round to it, against the trader.
    - ``lot_step``, ``min_lots`` (lots): sizes round down to the step; a smaller size than the
      minimum skips the entry.
    - ``margin_rate`` (fraction of the notional): the initial margin; 1 / margin_rate is the
      largest leverage a run may ask for.
    - ``spread`` (price, the whole bid-ask width), ``commission_per_lot`` (money per lot per fill),
      ``commission_pct`` (% of a fill's value), ``commission_per_fill`` (money per fill) and
      ``commission_min`` (money, the least a fill pays): the costs used with ``costs.fromInstrument``.
    - financing, per ``financing`` kind: ``swap``: ``swap_long_pct``/``swap_short_pct`` % of the
      notional a long/short pays per night (negative: earns), at 17:00 New York, Wednesday's
      night three times; ``borrow``: a short pays ``borrow_pct`` % a year (/360 per night, Friday's
      night three times); ``funding``: a long pays ``funding_pct`` % per 8 hours (00, 08, 16 UTC)
      and a short earns it.
    """

    symbol: str
    name: str = ""
    asset_class: str = "other"
    quote_currency: str = "USD"
    tick_size: float = 0.00001
    contract_size: float = 1.0
    lot_step: float = 0.01
    min_lots: float = 0.01
    calendar: str = "fx"
    spread: float = 0.0
    commission_per_lot: float = 0.0
    commission_pct: float = 0.0
    commission_per_fill: float = 0.0
    commission_min: float = 0.0
    margin_rate: float = 0.1
    shortable: bool = True
    financing: str = "none"
    swap_long_pct: float = 0.0
    swap_short_pct: float = 0.0
    borrow_pct: float = 0.0
    funding_pct: float = 0.0
    generic: bool = False  # the documented default for a symbol the table does not know

    def __post_init__(self) -> None:
        problems = []
        for name in ("tick_size", "contract_size", "lot_step", "margin_rate"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive")
        for name in (
            "min_lots",
            "spread",
            "commission_per_lot",
            "commission_pct",
            "commission_per_fill",
            "commission_min",
            "borrow_pct",
        ):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must be zero or more")
        if self.margin_rate > 1:
            problems.append("margin_rate is a fraction of the notional, at most 1")
        if self.asset_class not in ASSET_CLASSES:
            problems.append(f"asset_class must be one of {', '.join(ASSET_CLASSES)}")
        if self.financing not in FINANCING_KINDS:
            problems.append(f"financing must be one of {', '.join(FINANCING_KINDS)}")
        if self.calendar not in CALENDARS:
            problems.append(f"calendar must be one of {', '.join(CALENDARS)}")
        if problems:
            raise ValueError(f"instrument {self.symbol}: " + "; ".join(problems))

    @property
    def decimals(self) -> int:
        """Digits after the point that the tick needs (0.00001 → 5, 0.25 → 2, 1 → 0)."""
        exponent = Decimal(repr(self.tick_size)).normalize().as_tuple().exponent
        return max(0, -int(exponent))

    @property
    def max_leverage(self) -> float:
        return 1.0 / self.margin_rate

    @property
    def unit_step(self) -> float:
        """The lot step in units."""
        return self.lot_step * self.contract_size

    @property
    def min_units(self) -> float:
        return self.min_lots * self.contract_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Instrument:
        """From a table row; unknown keys are refused (a typo must not pass as a default)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"instrument {data.get('symbol', '?')}: unknown fields {', '.join(unknown)}")
        return cls(**dict(data))


def generic_instrument(symbol: str) -> Instrument:
    """The documented default for a symbol the table does not know: a 0.00001 tick, 1-unit
    lots in steps of 0.01, 10 % margin (10:1), shortable, no default costs, no financing."""
    return Instrument(symbol=symbol.upper(), name="generic default", generic=True)
