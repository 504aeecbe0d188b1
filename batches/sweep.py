"""What a sweep of a run can vary, and the values of a range. Pure: no Django.

The "optimise this run" page offers every numeric setting of the run's strategy as a grid path
into its request body (the body a batch sweeps, see ``batches.grid``): each module parameter of
each condition (declared by the module's spec, with its bounds and step), a condition's numeric
threshold (``value``) and the numeric exit settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modules.errors import ModuleNotFound
from modules.registry import get_registry

EXIT_PARAMETERS = {
    "stopLoss": "stop loss",
    "takeProfit": "take profit",
    "trailingStop": "trailing stop",
    "breakEvenAtR": "break-even at R",
    "maxBarsInTrade": "max bars in trade",
    "atrPeriod": "exit ATR period",
}
INTEGER_EXITS = {"maxBarsInTrade", "atrPeriod"}
MAX_VALUES = 50  # per parameter: a range beyond this is refused, the batch would be unreadable


@dataclass(frozen=True)
class SweepParameter:
    """One setting a sweep can vary: its grid ``path``, a readable ``label``, the run's
    ``value``, whether it takes ``integer`` values, and the bounds and step the module declares
    (None where it declares none)."""

    path: str
    label: str
    value: float
    integer: bool
    min: float | None = None
    max: float | None = None
    step: float | None = None

    @property
    def short_name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def suggested_range(self) -> tuple[float, float, float]:
        """(from, to, step) around the run's value: about ±30 % in about five values, on the
        declared step and inside the declared bounds."""
        spread = abs(self.value) * 0.3 or 1.0
        step = max(self.step or 0, _nice_step(spread / 2))
        if self.step:
            step = max(self.step, round(step / self.step) * self.step)
        if self.integer:
            step = max(1, round(step))
        spread = _round_to(spread, step)
        low, high = self.value - spread, self.value + spread
        if self.min is not None:
            low = max(low, self.min)
        if self.max is not None:
            high = min(high, self.max)
        return _clean(low, self.integer), _clean(high, self.integer), _clean(step, self.integer)


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at most ``raw``."""
    power = 10 ** math.floor(math.log10(raw))
    return max(m * power for m in (1, 2, 5) if m * power <= raw)


def _round_to(value: float, step: float) -> float:
    return max(step, round(value / step) * step)


def _clean(value: float, integer: bool) -> float:
    return int(round(value)) if integer else round(value, 10)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def sweep_parameters(body: dict) -> list[SweepParameter]:
    """Every numeric setting of a V4 request body a sweep can vary, in the order of the body."""
    found: list[SweepParameter] = []
    registry = get_registry()
    for i, block in enumerate(body.get("decisionBlocks") or []):
        subs = block.get("subConfirmations") if isinstance(block, dict) else None
        for j, sub in enumerate(subs or []):
            if not isinstance(sub, dict) or not isinstance(sub.get("config"), dict):
                continue
            config, base = sub["config"], f"decisionBlocks[{i}].subConfirmations[{j}].config"
            try:
                module = registry.get_module(sub.get("moduleId"))
            except ModuleNotFound:
                continue
            name = sub.get("label") or module.name
            for param in module.params:
                value = config.get(param.name, param.default)
                if param.type not in ("integer", "number") or not _number(value):
                    continue
                found.append(
                    SweepParameter(
                        path=f"{base}.{param.name}",
                        label=f"{name} · {param.title or param.name}",
                        value=value,
                        integer=param.type == "integer",
                        min=param.min,
                        max=param.max,
                        step=param.step,
                    )
                )
            if _number(config.get("value")):
                value = config["value"]
                found.append(
                    SweepParameter(
                        path=f"{base}.value",
                        label=f"{name} · threshold ({config.get('operator', '')} value)",
                        value=value,
                        integer=False,
                    )
                )
    exits = body.get("exit") if isinstance(body.get("exit"), dict) else {}
    for key, label in EXIT_PARAMETERS.items():
        if _number(exits.get(key)):
            found.append(
                SweepParameter(
                    path=f"exit.{key}",
                    label=f"Exit · {label}",
                    value=exits[key],
                    integer=key in INTEGER_EXITS,
                    min=0,
                    step=1 if key in INTEGER_EXITS else None,
                )
            )
    return found


def range_values(start: float, stop: float, step: float | None, *, integer: bool) -> list[float]:
    """``start``, ``start + step``, … up to ``stop`` inclusive (rounded so 0.1 steps stay 0.1,
    integers for an integer parameter). Raises ValueError with a sentence for a bad range."""
    if not all(_number(v) for v in (start, stop)) or (step is not None and not _number(step)):
        raise ValueError("The range needs numbers.")
    if stop < start:
        raise ValueError(f"The range ends ({stop:g}) before it starts ({start:g}).")
    if start == stop:
        values = [start]
    else:
        if not step or step <= 0:
            raise ValueError("The step must be greater than zero.")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_VALUES:
            raise ValueError(f"The range has {count} values; at most {MAX_VALUES} are allowed. Take a larger step.")
        values = [start + k * step for k in range(count)]
    out = [int(round(v)) if integer else round(v, 10) for v in values]
    return list(dict.fromkeys(out))
