"""Validate and plan a batch request, creating nothing.

The strategy is taken as written (a V4 or V5 body, or a template with overrides): grid paths
point into it, and every combination is that body with the combination's values written in,
compiled by the one request compiler (``backtests.strategies.compile.request_compile``)
exactly once. Every problem is a :class:`~qm_platform.errors.CodedError` (400), raised as it
is: GridError, ObjectiveError and WalkForwardError are CodedErrors already.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from backtests.api.serializers import SYMBOL_PATTERN
from backtests.services import backtest_count_today
from backtests.strategies.compile import CompiledRequest, request_compile
from backtests.strategies.parse import CONDITION_KEYS, COST_KEYS, EXIT_KEYS
from backtests.strategies.portfolio import PORTFOLIO_KEYS
from backtests.strategies.saved import names_saved_strategy, parse_reference, strategy_version_for_user
from backtests.strategies.templates import deep_merge, template_apply
from batches import selectors
from batches.grid import Grid, build_grid
from batches.models import BatchMode
from batches.objective import Constraints, Objective, parse_constraints, parse_objective
from batches.walk_forward import Window, build_windows
from marketdata.timeframes import TIMEFRAME_SECONDS
from modules.errors import ModuleNotFound
from modules.registry import get_registry
from plans.selectors import plan_for_user
from plans.services import plan_check_batch, quota_check_runs
from qm_platform.errors import CodedError

SYMBOL = re.compile(SYMBOL_PATTERN)  # the API's: never "." or "..", never a path
MAX_GRID_SIZE = 10**15  # beyond this even a sample cannot index the grid
MAX_LIST = 200  # markets, timeframes
WALK_FORWARD_KEYS = {"inSample", "outOfSample", "step", "anchored"}


@dataclass
class BatchPlan:
    """A validated batch request: what to run, and how to judge it."""

    mode: str
    name: str
    base_body: dict  # the strategy as written, template applied: grid paths point into it
    grid: Grid
    indices: list[int]
    objective: Objective
    constraints: Constraints
    windows: list[Window] = field(default_factory=list)
    definition: dict = field(default_factory=dict)
    # Grid mode: combination indices[0], compiled while validating; its run submits it as is.
    first_compiled: CompiledRequest | None = None
    # The saved strategy (backtests.Strategy) and version the batch sweeps, when it names one.
    strategy: Any = None
    strategy_version: int | None = None

    def combination(self, index: int) -> tuple[dict, dict]:
        """(parameters, the request body with them written in) of combination ``index``."""
        params = self.grid.combination(index)
        return params, self.grid.apply(self.base_body, params)

    @property
    def first_pass_runs(self) -> int:
        """Runs created with the batch: one per combination (and walk-forward window)."""
        return len(self.indices) * (len(self.windows) or 1)

    @property
    def planned_runs(self) -> int:
        if self.mode == BatchMode.WALK_FORWARD:
            return len(self.indices) * len(self.windows) + len(self.windows)
        return len(self.indices)


def combination_compile(*, user, body: dict, params: dict, instruments: dict | None = None) -> CompiledRequest:
    """Compile one combination's request body (``instruments``: see ``request_compile``). A
    CodedError is raised as it is (same type, code and status); its message and details name
    the combination, if the grid has any."""
    try:
        return request_compile(body, user=user, instruments=instruments)
    except CodedError as exc:
        if params:
            exc.message = f"combination {params}: {exc.message}"
            exc.details = {**exc.details, "combination": params}
        raise


def window_body(body: dict, start, end) -> dict:
    """The request body run on [start, end) instead of its own period."""
    out = dict(body)
    ctx = {k: v for k, v in body["marketContext"].items() if k != "testPeriod"}
    ctx["startDate"], ctx["endDate"] = pd.Timestamp(start).isoformat(), pd.Timestamp(end).isoformat()
    out["marketContext"] = ctx
    return out


def batch_plan(*, user, definition: dict) -> BatchPlan:
    """Validate a batch request completely, creating nothing: the strategy (or template),
    every grid path against it, the markets and timeframes, the objective and constraints,
    the sample, the walk-forward windows, the user's run limit, and one combination compiled
    (fail fast: a strategy that cannot run is refused before any run exists). Raises
    CodedError (400)."""
    if not isinstance(definition, dict):
        raise CodedError("INVALID_REQUEST", "the batch request must be a JSON object")
    raw, strategy, version = _strategy_as_written(definition, user=user)
    mode = definition.get("mode", BatchMode.GRID)
    if mode not in BatchMode.values:
        raise CodedError("INVALID_REQUEST", f"mode must be one of {BatchMode.values}", details={"field": "mode"})
    markets = _list_of(
        definition.get("markets"), "markets", lambda m: isinstance(m, str) and SYMBOL.match(m), "symbols"
    )
    timeframes = _list_of(definition.get("timeframes"), "timeframes", lambda t: t in TIMEFRAME_SECONDS, "timeframes")
    grid = build_grid(
        raw, definition.get("grid"), [m.upper() for m in markets], timeframes, known_leaf_keys=_known_leaf_keys
    )
    objective = parse_objective(definition.get("objective"))
    constraints = parse_constraints(definition.get("constraints"))
    if grid.size > MAX_GRID_SIZE:
        raise CodedError(
            "GRID_TOO_LARGE",
            f"the grid has {grid.size:.3g} combinations; sample from a smaller one",
            details={"combinations": grid.size},
        )
    sample = _sample(definition.get("sample"))
    walk_forward = _walk_forward_spec(mode, definition.get("walkForward"))
    plan = BatchPlan(
        mode=mode,
        name=str(definition.get("name") or "")[:200],
        base_body=raw,
        grid=grid,
        indices=[],
        objective=objective,
        constraints=constraints,
        strategy=strategy,
        strategy_version=version,
    )
    if walk_forward is not None:
        # The windows split the strategy's data window, known once a combination compiles.
        params, body = plan.combination(0)
        plan.windows = _windows(walk_forward, combination_compile(user=user, body=body, params=params))
    _check_limit(user=user, grid=grid, sample=sample, windows=len(plan.windows))
    plan.indices = grid.indices(sample)
    if walk_forward is None:
        params, body = plan.combination(plan.indices[0])
        plan.first_compiled = combination_compile(user=user, body=body, params=params)
    plan.definition = {k: v for k, v in definition.items() if k not in ("strategy", "overrides", "version")}
    plan.definition["strategy"] = raw
    if strategy is not None:  # what was asked ("latest" or a number) and what it resolved to
        plan.definition["savedStrategy"] = {
            "id": strategy.id,
            "version": version,
            "requested": definition.get("version") or "latest",
        }
    plan.definition["objective_resolved"] = objective.as_dict()
    return plan


def batch_plan_restore(*, definition: dict, windows: list[dict] | None) -> BatchPlan:
    """The plan of a saved batch from its stored ``definition`` (as :func:`batch_plan` left it)
    and walk-forward ``windows``: the same grid, combinations and windows, rebuilt without
    compiling anything or checking the user's limits again (both were done when it was
    created). ``first_compiled`` is None: every combination is compiled by the caller."""
    raw = definition["strategy"]
    grid = build_grid(
        raw,
        definition.get("grid"),
        [m.upper() for m in definition.get("markets") or []],
        definition.get("timeframes") or [],
        known_leaf_keys=_known_leaf_keys,
    )
    return BatchPlan(
        mode=definition.get("mode", BatchMode.GRID),
        name=str(definition.get("name") or "")[:200],
        base_body=raw,
        grid=grid,
        indices=grid.indices(definition.get("sample")),
        objective=parse_objective(definition.get("objective")),
        constraints=parse_constraints(definition.get("constraints")),
        windows=[
            Window(
                index=w["index"],
                is_start=pd.Timestamp(w["is_start"]),
                is_end=pd.Timestamp(w["is_end"]),
                oos_start=pd.Timestamp(w["oos_start"]),
                oos_end=pd.Timestamp(w["oos_end"]),
            )
            for w in windows or []
        ],
        definition=definition,
    )


def _strategy_as_written(definition: dict, *, user) -> tuple[dict, Any, int | None]:
    """The request body the grid sweeps, and the saved strategy and version it came from (or
    None, None): ``strategy`` (a request body, or the id of a saved strategy with ``version``, a
    number or "latest", and ``overrides`` deep-merged over its body), or ``template`` with
    ``overrides``. 400 TEMPLATE_NOT_FOUND for an unknown template; 404 NOT_FOUND for a saved
    strategy (or version) that is not the user's."""
    has_strategy, has_template = definition.get("strategy") is not None, definition.get("template") is not None
    if has_strategy == has_template:
        raise CodedError(
            "INVALID_REQUEST",
            "give exactly one of 'strategy' (a request body or a saved strategy's id) or 'template' (a template id)",
            details={"field": "strategy"},
        )
    overrides = definition.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise CodedError("INVALID_REQUEST", "overrides must be an object", details={"field": "overrides"})
    if has_template:
        return template_apply(definition["template"], overrides), None, None
    if names_saved_strategy(definition):
        strategy_id, version = parse_reference(definition["strategy"], definition.get("version"))
        strategy, saved = strategy_version_for_user(user=user, strategy_id=strategy_id, version=version)
        body = deep_merge(saved.body, overrides)
        body.setdefault("strategyName", strategy.name)
        return body, strategy, saved.number
    if not isinstance(definition["strategy"], dict):
        raise CodedError("INVALID_REQUEST", "strategy must be a request body (object)", details={"field": "strategy"})
    return definition["strategy"], None, None


def _known_leaf_keys(body: dict, parent_keys, _parent) -> set[str]:
    """Keys a grid path may set although the request leaves them out: a module's declared
    parameters and the condition keys (in a ``config``), the engine's exit and cost keys, and a
    portfolio's rules (``portfolio.maxOpenPositions``, ...)."""
    if parent_keys and parent_keys[-1] == "config":
        node = body
        for key in parent_keys[:-1]:
            node = node[key]
        try:
            module = get_registry().get_module(node.get("moduleId") if isinstance(node, dict) else None)
        except ModuleNotFound:  # the compiler names the unknown module
            return set(CONDITION_KEYS)
        return {p.name for p in module.params} | set(CONDITION_KEYS)
    if list(parent_keys) == ["exit"]:
        return set(EXIT_KEYS)
    if list(parent_keys) == ["costs"]:
        return set(COST_KEYS)
    if list(parent_keys) == ["portfolio"]:
        return set(PORTFOLIO_KEYS)
    return set()


def _list_of(raw, field_name: str, check, what: str) -> list:
    """``markets`` or ``timeframes``: absent, or a list of 1 to 200 valid ``what``."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw or len(raw) > MAX_LIST:
        raise CodedError(
            "INVALID_REQUEST", f"{field_name} must be a list of 1 to {MAX_LIST} {what}", details={"field": field_name}
        )
    for item in raw:
        if not check(item):
            raise CodedError(
                "INVALID_REQUEST", f"{field_name}: {item!r} is not a valid {what[:-1]}", details={"field": field_name}
            )
    return raw


def _sample(sample) -> dict | None:
    """``{"n": <positive integer>, "seed": <integer>}`` or None."""

    def is_int(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if sample is None:
        return None
    if (
        not isinstance(sample, dict)
        or set(sample) - {"n", "seed"}
        or not is_int(sample.get("n"))
        or sample["n"] < 1
        or not is_int(sample.get("seed", 0))
    ):
        raise CodedError(
            "INVALID_REQUEST",
            'sample must be {"n": <positive integer>, "seed": <integer>}',
            details={"field": "sample"},
        )
    return sample


def _walk_forward_spec(mode: str, raw) -> dict | None:
    """The ``walkForward`` object of a walk-forward batch (None for a grid)."""
    if mode != BatchMode.WALK_FORWARD:
        if raw is not None:
            raise CodedError(
                "INVALID_REQUEST", 'walkForward needs "mode": "walk_forward"', details={"field": "walkForward"}
            )
        return None
    if not isinstance(raw, dict) or set(raw) - WALK_FORWARD_KEYS:
        raise CodedError(
            "INVALID_WALK_FORWARD",
            'walkForward must be {"inSample": "6mo", "outOfSample": "2mo", "step": "2mo", "anchored": false}',
            details={"field": "walkForward"},
        )
    return raw


def _windows(walk_forward: dict, compiled: CompiledRequest) -> list[Window]:
    """The walk-forward windows over the compiled request's data window."""
    return build_windows(
        compiled.window.start,
        compiled.window.end,
        in_sample=walk_forward.get("inSample"),
        out_of_sample=walk_forward.get("outOfSample"),
        step=walk_forward.get("step"),
        anchored=bool(walk_forward.get("anchored", False)),
    )


def _check_limit(*, user, grid: Grid, sample: dict | None, windows: int) -> None:
    """400 GRID_TOO_LARGE beyond the platform's (or an admin-granted) runs per batch; then the plan:
    403 PLAN_LIMIT beyond its runs per batch, 429 QUOTA_EXCEEDED beyond the runs left today."""
    requested = min(sample["n"], grid.size) if sample else grid.size
    planned = requested * (windows or 1) + windows
    limit = selectors.batch_limit_for_user(user=user)
    if planned > limit:
        raise CodedError(
            "GRID_TOO_LARGE",
            f"this batch would create {planned:,} runs ({grid.size:,} combinations"
            f"{f', {requested:,} sampled' if sample else ''}{f' × {windows} windows' if windows else ''}); "
            f"your limit is {limit:,} runs per batch. Narrow the grid or sample it with "
            f'"sample": {{"n": N, "seed": 1}}.',
            details={"combinations": grid.size, "runs": planned, "limit": limit},
        )
    plan = plan_for_user(user=user)
    if not selectors.batch_limit_is_granted(user=user):  # an admin's grant overrides the plan's ceiling
        plan_check_batch(plan=plan, combinations=planned)
    quota_check_runs(plan=plan, runs_today=backtest_count_today(user=user), adding=planned)
