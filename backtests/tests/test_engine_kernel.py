"""The compiled kernel's interface: one compiled signature whatever the callers pass (so the
on-disk cache always serves a fresh worker), and the layout table in kernel.py's docstring
agreeing with the index constants the code uses."""

import re

import numpy as np
import pandas as pd

from backtests.engine import kernel as K
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
