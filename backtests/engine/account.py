"""The trading account (pure): leverage cap, maintenance margin, financing on or off, and the
kernel parameters that carry them and the instrument's grid. The rules are in docs/engine.md
("The account"); kernel.py applies them bar by bar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import kernel as K
from .instrument import Instrument

WIPED_OUT = "ACCOUNT_WIPED_OUT"


@dataclass(frozen=True)
class Account:
    """``leverage``: the most notional (every open position, at the fill) per unit of equity
    marked at the fill; ``None``: no cap. ``maintenance_margin_pct``: % of the notional; when the
    equity marked to market falls to it the position is liquidated (``None``: half the initial
    margin 100 / leverage, 0 without leverage, so liquidation at equity 0). ``financing``:
    charge the instrument's swap, borrow or funding."""

    leverage: float | None = None
    maintenance_margin_pct: float | None = None
    financing: bool = True

    @property
    def maintenance_fraction(self) -> float:
        if self.maintenance_margin_pct is not None:
            return self.maintenance_margin_pct / 100.0
        return 0.5 / self.leverage if self.leverage else 0.0

    def describe(self) -> str:
        parts = []
        if self.leverage:
            parts.append(f"leverage {self.leverage:g}:1")
        if self.maintenance_margin_pct is not None:
            parts.append(f"maintenance {self.maintenance_margin_pct:g}%")
        if not self.financing:
            parts.append("no financing")
        return ", ".join(parts)


def account_params(
    p: np.ndarray, account: Account, instrument: Instrument | None, *, commission_per_lot: float, commission_min: float
) -> None:
    """Write the account's and the instrument's kernel parameters (P_TICK .. P_COMM_MIN) into
    ``p``. Without an instrument: no tick, no lot step, no minimum, a lot of 1 unit."""
    p[K.P_LEVERAGE] = account.leverage or 0.0
    p[K.P_MAINT] = account.maintenance_fraction
    p[K.P_COMM_MIN] = commission_min
    contract = 1.0
    if instrument is not None:
        p[K.P_TICK] = instrument.tick_size
        p[K.P_LOT] = instrument.unit_step
        p[K.P_MIN_QTY] = instrument.min_units
        contract = instrument.contract_size
    p[K.P_COMM_PER_UNIT] = commission_per_lot / contract


def account_outcome(
    counts: dict[str, int],
    financing: float,
    account: Account,
    instrument: Instrument | None,
    index: pd.DatetimeIndex,
    *,
    intrabar: str | None,
    same_bar_policy: str,
    finer_available: bool | None,
) -> tuple[dict[str, Any], list[str]]:
    """The run's account figures for the metrics, and its warnings: sizes under the minimum,
    capped entries, liquidations, a wipe-out (``ACCOUNT_WIPED_OUT: ...``), the magnifier's
    fallbacks. ``counts`` are the kernel's counters by name, ``financing`` the trades' total
    (money); ``finer_available`` (whether any bar has finer bars) is None when no magnifier was
    asked for."""
    metrics: dict[str, Any] = {
        "total_financing": financing,
        "capped_entries": counts.get("capped", 0),
        "skipped_below_min_size": counts.get("below_min", 0),
        "liquidations": counts.get("liquidations", 0),
        "wiped_out": counts.get("wiped_bar", -1) >= 0,
        "leverage_cap": account.leverage,
        "price_decimals": instrument.decimals if instrument is not None else None,
    }
    warnings = []
    if counts.get("below_min"):
        minimum = instrument.min_lots if instrument else 0
        warnings.append(
            f"{counts['below_min']} entries were skipped: their size, rounded down to the lot step, "
            f"was under the minimum of {minimum:g} lots."
        )
    if counts.get("capped"):
        warnings.append(
            f"{counts['capped']} entries asked for more than leverage {account.leverage:g}:1 allows "
            "and were cut to it (see each trade's requested_size)."
        )
    if counts.get("liquidations"):
        warnings.append(f"{counts['liquidations']} positions were liquidated at the maintenance margin.")
    wiped = counts.get("wiped_bar", -1)
    if wiped >= 0:
        warnings.append(
            f"{WIPED_OUT}: the account's equity reached 0 at {index[wiped].isoformat()} (bar {wiped}); "
            "trading stopped there and the equity stays 0."
        )
    if finer_available is not None:
        metrics["intrabar_resolved"] = counts.get("magnified", 0)
        metrics["intrabar_unresolved"] = counts.get("unresolved", 0)
        if not finer_available:
            warnings.append(
                f"No {intrabar} bars were available for the bar magnifier: a bar holding both the stop "
                f"and the target was settled by sameBarPolicy ({same_bar_policy})."
            )
        elif counts.get("unresolved"):
            warnings.append(
                f"{counts['unresolved']} bars held both the stop and the target and the {intrabar} bars could not "
                f"order them (none for the bar, or both inside one finer bar): {same_bar_policy} settled them."
            )
    return metrics, warnings
