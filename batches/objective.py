"""What "best" means in a batch: the objective (a metric, or a weighted score of metrics) and
the constraints a run must meet to be eligible. Pure: no Django.

Every objective is "higher is better"; give a negative weight to a metric where lower is
better (``{"weights": {"sharpe": 1, "max_drawdown_pct": -0.05}}``). A run whose objective
needs a metric it does not have (None: too few trades, no losses for a profit factor, ...)
has no score and cannot be best.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qm_platform.errors import CodedError

# Weights beyond this only rescale the score; bounded so a weighted sum of metrics can never
# overflow to ±inf (which a JSON column refuses, leaving a batch unable to finish).
MAX_WEIGHT = 1e6

# Named objectives → the metric they read.
NAMED_OBJECTIVES = {
    "sharpe": "sharpe",
    "profit_factor": "profit_factor",
    "pvs": "pvs",
    "net_return": "net_return_pct",
    "sortino": "sortino",
    "cagr": "cagr_pct",
    "win_rate": "win_rate",
    "esi": "esi",
    "expectancy_r": "expectancy_r",
}
# Shown in the results table (a missing key is None).
KEY_METRICS = (
    "trade_count",
    "win_rate",
    "profit_factor",
    "net_return_pct",
    "cagr_pct",
    "max_drawdown_pct",
    "sharpe",
    "sortino",
    "expectancy_r",
    "esi",
    "pvs",
)
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ObjectiveError(CodedError):
    """An invalid batch request: rendered as it is by the API's one handler."""


@dataclass(frozen=True)
class Objective:
    """``weights`` maps metric → weight; a named objective is one metric with weight 1.
    ``normalize="zscore"`` standardises each metric across the batch before weighting, so
    weights compare metrics of different scales."""

    name: str
    weights: dict[str, float] = field(default_factory=dict)
    normalize: str = "none"

    def as_dict(self) -> dict:
        return {"name": self.name, "weights": dict(self.weights), "normalize": self.normalize}


@dataclass(frozen=True)
class Constraints:
    min_trades: int | None = None
    max_drawdown_pct: float | None = None

    def as_dict(self) -> dict:
        return {"min_trades": self.min_trades, "max_drawdown_pct": self.max_drawdown_pct}

    def violations(self, metrics: dict | None) -> list[str]:
        """Plain-language reasons the run is not eligible (empty: eligible)."""
        metrics = metrics or {}
        out = []
        trades = metrics.get("trade_count")
        if self.min_trades is not None and (trades is None or trades < self.min_trades):
            out.append(f"{trades or 0} trades < min_trades {self.min_trades}")
        drawdown = metrics.get("max_drawdown_pct")
        if self.max_drawdown_pct is not None and (drawdown is None or abs(drawdown) > self.max_drawdown_pct):
            out.append(f"max drawdown {drawdown if drawdown is not None else '?'}% > {self.max_drawdown_pct}%")
        return out


def parse_objective(raw: Any) -> Objective:
    """``None`` (Sharpe), a name (``sharpe``, ``profit_factor``, ``pvs``, ``net_return``, ...)
    or ``{"weights": {metric: weight, ...}, "normalize": "none" | "zscore"}``."""
    if raw is None:
        raw = "sharpe"
    if isinstance(raw, str):
        if raw not in NAMED_OBJECTIVES:
            raise ObjectiveError(
                "INVALID_OBJECTIVE",
                f"unknown objective {raw!r}; use one of "
                f'{sorted(NAMED_OBJECTIVES)} or {{"weights": {{metric: weight}}}}',
                {"field": "objective", "options": sorted(NAMED_OBJECTIVES)},
            )
        return Objective(raw, {NAMED_OBJECTIVES[raw]: 1.0})
    if not isinstance(raw, dict) or not isinstance(raw.get("weights"), dict) or not raw["weights"]:
        raise ObjectiveError(
            "INVALID_OBJECTIVE", 'a custom objective is {"weights": {metric: weight, ...}}', {"field": "objective"}
        )
    weights = {}
    for metric, weight in raw["weights"].items():
        if not isinstance(metric, str) or not METRIC_NAME.match(metric):
            raise ObjectiveError(
                "INVALID_OBJECTIVE",
                f"objective weight key {metric!r} is not a metric name",
                {"field": "objective.weights"},
            )
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not math.isfinite(weight)
            or abs(weight) > MAX_WEIGHT
        ):
            raise ObjectiveError(
                "INVALID_OBJECTIVE",
                f"objective weight for {metric} must be a number between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}",
                {"field": f"objective.weights.{metric}"},
            )
        weights[metric] = float(weight)
    normalize = raw.get("normalize", "none")
    if normalize not in ("none", "zscore"):
        raise ObjectiveError(
            "INVALID_OBJECTIVE", "objective.normalize must be 'none' or 'zscore'", {"field": "objective.normalize"}
        )
    return Objective("custom", weights, normalize)


def parse_constraints(raw: Any) -> Constraints:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ObjectiveError("INVALID_CONSTRAINTS", "constraints must be an object", {"field": "constraints"})
    unknown = set(raw) - {"min_trades", "max_drawdown_pct"}
    if unknown:
        raise ObjectiveError(
            "INVALID_CONSTRAINTS",
            f"unknown constraint(s) {sorted(unknown)}; use min_trades and max_drawdown_pct",
            {"field": "constraints"},
        )
    min_trades, max_dd = raw.get("min_trades"), raw.get("max_drawdown_pct")
    if min_trades is not None and (isinstance(min_trades, bool) or not isinstance(min_trades, int) or min_trades < 0):
        raise ObjectiveError(
            "INVALID_CONSTRAINTS",
            "constraints.min_trades must be a non-negative integer",
            {"field": "constraints.min_trades"},
        )
    if max_dd is not None and (isinstance(max_dd, bool) or not isinstance(max_dd, (int, float)) or not max_dd > 0):
        raise ObjectiveError(
            "INVALID_CONSTRAINTS",
            "constraints.max_drawdown_pct must be a positive number (percent)",
            {"field": "constraints.max_drawdown_pct"},
        )
    return Constraints(min_trades, None if max_dd is None else float(max_dd))


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def scores(objective: Objective, metrics_list: Sequence[dict | None]) -> list[float | None]:
    """The objective of each run (None where a metric it needs is missing)."""
    columns = {m: [_finite((metrics or {}).get(m)) for metrics in metrics_list] for m in objective.weights}
    if objective.normalize == "zscore":
        for metric, values in columns.items():
            present = [v for v in values if v is not None]
            mean = sum(present) / len(present) if present else 0.0
            std = math.sqrt(sum((v - mean) ** 2 for v in present) / len(present)) if present else 0.0
            columns[metric] = [None if v is None else ((v - mean) / std if std > 0 else 0.0) for v in values]
    out = []
    for i in range(len(metrics_list)):
        parts = [columns[m][i] for m in objective.weights]
        out.append(
            None if any(p is None for p in parts) else sum(w * p for w, p in zip(objective.weights.values(), parts))
        )
    return out


def pick_best(rows: Sequence[dict]) -> dict | None:
    """The eligible row with the highest ``score`` (ties: the earliest combination)."""
    eligible = [r for r in rows if r.get("eligible") and r.get("score") is not None]
    return max(eligible, key=lambda r: (r["score"], -r.get("combination", 0)), default=None)
