"""The compiled kernel's interface: one compiled signature whatever the callers pass (so the
on-disk cache always serves a fresh worker), the layout table in kernel.py's docstring agreeing
with the index constants the code uses, and the single-position walk giving the general walk's
trades, equity and counters to the bit."""

import re

import numpy as np
import pandas as pd
import pytest

from backtests.engine import kernel as K
from backtests.engine.jit import read_only
from backtests.engine.simulate import Signals, simulate
from backtests.strategies.parse import build_strategy

BLOCK = [{"subConfirmations": [{"moduleId": "rsi", "config": {"operator": "<", "value": 30}}]}]
LAYOUT_CONSTANT = re.compile(r"^[BEPSIF]_[A-Z_]+$")


def test_one_compiled_signature_whatever_the_inputs_look_like():
    n = 50
    close = 100.0 + np.sin(np.arange(n))
    frame = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close})
    readonly = [frame[c].to_numpy() for c in ("open", "high", "low", "close")]  # pandas: read-only views
    writeable = [np.array(a) for a in readonly]
    strided = [np.repeat(a, 2)[::2] for a in readonly]  # not contiguous
    as_ints = [a.astype(np.int64) for a in readonly]
    entries = np.zeros(n, dtype=bool)
    entries[[3, 20]] = True
    spec = build_strategy({"decisionBlocks": BLOCK, "exit": {"stopLoss": 1}})
    for prices in (readonly, writeable, strided, as_ints):
        flags = np.zeros(n, dtype=np.int8)  # not bool
        simulate(spec, Signals(entries, flags, flags, flags), *prices, size_value=np.full(n, 10.0))
        simulate(
            spec,
            Signals(entries, entries.copy(), entries[::-1], entries[::-1]),
            *prices,
            atr=readonly[0],
            size_basis=1,
            size_value=frame["close"].to_numpy(),
            session_end=entries,
            stop_level=writeable[2],
            target_level=readonly[1],
        )
    assert len(K.run_kernel.signatures) == 1, K.run_kernel.signatures


def test_the_docstring_table_lists_every_index_with_its_value():
    documented = {}
    for line in (K.__doc__ or "").splitlines():
        row = re.match(r"^\S+\s+(\d+)\s+([A-Z]_[A-Z_]+)\s", line)
        if row:
            documented[row[2]] = int(row[1])
    constants = {name: value for name, value in vars(K).items() if LAYOUT_CONSTANT.match(name)}
    assert documented == constants
    for prefix, size in (
        ("B_", K.N_BARS_ARRAYS),
        ("E_", K.N_EVENTS_ARRAYS),
        ("P_", K.N_PARAMS),
        ("S_", K.N_SLOT),
        ("I_", K.N_INT),
        ("F_", K.N_FLOAT),
    ):
        assert sorted(v for k, v in constants.items() if k.startswith(prefix)) == list(range(size)), prefix


def _bars(n: int, seed: int, gaps: float) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Random OHLC bars (gaps between a close and the next open up to ``gaps`` percent) with random
    long and short entry and exit signals, as the kernel takes them."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1] * (1 + rng.uniform(-gaps, gaps, n - 1) / 100)))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    size = np.full(n, 1.0)
    nan, zero = np.full(n, np.nan), np.zeros(n)
    bars = (open_, high, low, close, nan, size, nan, nan, zero, zero)
    events = tuple(rng.random(n) < share for share in (0.05, 0.05, 0.02, 0.02)) + (np.zeros(n, dtype=bool),)
    return bars, events


def _params(**values: float) -> np.ndarray:
    p = np.zeros(K.N_PARAMS)
    p[K.P_PYRAMIDING] = 1
    p[K.P_CAPITAL] = 10_000.0
    p[K.P_SIZE_BASIS] = K.BASIS_EQUITY_FRACTION
    for name, value in values.items():
        p[getattr(K, name)] = value
    return p


SINGLE_POSITION = {
    "stop and target": _params(P_STOP_VAL=1, P_STOP_UNIT=K.UNIT_PERCENT, P_TP_VAL=2, P_TP_UNIT=K.UNIT_PERCENT),
    "target first, R target": _params(
        P_STOP_VAL=1, P_STOP_UNIT=K.UNIT_PERCENT, P_TP_VAL=1.5, P_TP_UNIT=K.UNIT_R, P_TARGET_FIRST=1
    ),
    "no stop, opposite signal": _params(P_TP_VAL=3, P_TP_UNIT=K.UNIT_PERCENT, P_OPPOSITE=1),
    "signals only": _params(),
    "costs, tick and lot": _params(
        P_STOP_VAL=1,
        P_STOP_UNIT=K.UNIT_PERCENT,
        P_COMM_PCT=0.05,
        P_COMM_FIXED=1,
        P_SPREAD=0.02,
        P_SLIP=0.01,
        P_SLIP_PCT=1,
        P_TICK=0.01,
        P_LOT=0.1,
        P_MIN_QTY=0.2,
        P_COMM_MIN=2,
    ),
    "leverage, liquidations": _params(P_TP_VAL=2, P_TP_UNIT=K.UNIT_PERCENT, P_LEVERAGE=5, P_MAINT=0.5),
    "stops beyond the liquidation price": _params(
        P_STOP_VAL=0.5, P_STOP_UNIT=K.UNIT_PERCENT, P_LEVERAGE=20, P_MAINT=0.8
    ),
    "wiped out": _params(P_TP_VAL=50, P_TP_UNIT=K.UNIT_PERCENT),
}


def _walk(walk, bars, events, p) -> tuple:
    n = len(bars[0])
    ti = np.zeros((n, K.N_INT), dtype=np.int64)
    tf = np.zeros((n, K.N_FLOAT))
    equity = np.empty(n)
    counters = np.zeros(K.N_COUNTERS, dtype=np.int64)
    counters[K.C_WIPED_BAR] = -1
    args = tuple(read_only(a, a.dtype) for a in bars), tuple(read_only(a, np.bool_) for a in events)
    if walk is K._walk_single:
        count = walk(*args, p, ti, tf, equity, counters)
    else:
        none, never = read_only(np.zeros(0), np.float64), read_only(np.zeros(0, dtype=np.int64), np.int64)
        count = walk(*args, (none, none, none), never, never, p, ti, tf, equity, counters)
    return count, ti[:count], tf[:count], equity, counters


@pytest.mark.parametrize("name", SINGLE_POSITION)
@pytest.mark.parametrize("size_value", [1.0, 10.0])
@pytest.mark.parametrize("gaps", [0.0, 3.0])
def test_the_single_position_walk_is_the_general_walk_to_the_bit(name, size_value, gaps):
    p = SINGLE_POSITION[name]
    assert K.single_position(p)
    for seed in range(3):
        bars, events = _bars(2_000, seed, gaps)
        bars[5][:] = size_value
        single = _walk(K._walk_single, bars, events, p)
        general = _walk(K._walk_slots, bars, events, p)
        assert single[0] == general[0] > 0
        for mine, theirs in zip(single[1:], general[1:], strict=True):
            np.testing.assert_array_equal(mine, theirs)


def test_the_wiped_out_and_liquidated_cases_are_reached():
    """The cases above do reach the rare branches they name."""
    reached = {"liquidations": 0, "wiped": 0}
    for name in ("leverage, liquidations", "stops beyond the liquidation price", "wiped out"):
        for seed in range(3):
            bars, events = _bars(2_000, seed, 3.0)
            bars[5][:] = 10.0
            counters = _walk(K._walk_single, bars, events, SINGLE_POSITION[name])[4]
            reached["liquidations"] += counters[K.C_LIQUIDATIONS]
            reached["wiped"] += counters[K.C_WIPED_BAR] >= 0
    assert reached["liquidations"] > 0 and reached["wiped"] > 0


def test_features_beyond_one_position_take_the_general_walk():
    for name, value in (
        ("P_PYRAMIDING", 2),
        ("P_TRAIL_UNIT", K.UNIT_PERCENT),
        ("P_BE_R", 1),
        ("P_MAX_BARS", 5),
        ("P_CLOSE_SESSION", 1),
        ("P_MAX_PER_SESSION", 1),
    ):
        assert not K.single_position(_params(**{name: value})), name
