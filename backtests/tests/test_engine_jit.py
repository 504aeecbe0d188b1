"""Kernel start-up (backtests/engine/jit.py): the disk cache is recognised, and while kernels compile
in the background a run goes on through their Python code with the same results."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading

import numpy as np
from numba import njit

from backtests.engine import jit, kernel, montecarlo
from backtests.engine.run import _warm_frame, _warm_spec, run_backtest, warm_up
from conftest import ROOT


def test_a_kernel_not_compiled_runs_as_python_while_a_warm_up_runs_then_compiles():
    @njit
    def total(values):
        acc = 0.0
        for v in values:
            acc += v
        return acc

    release = threading.Event()
    compiled_in_warm_up = []

    def warm():
        release.wait(30)
        compiled_in_warm_up.append(total(np.arange(3.0)))  # the warming thread compiles

    thread = jit.warm_in_background(warm)
    assert jit.interpreting()
    assert total(np.arange(4.0)) == 6.0
    assert total.signatures == []  # answered by the Python function, nothing compiled
    release.set()
    thread.join(60)
    assert not jit.interpreting() and compiled_in_warm_up == [3.0]
    assert len(total.signatures) == 1
    assert total(np.arange(5.0)) == 10.0


def test_the_cache_is_recognised_once_a_kernel_was_compiled_into_it(tmp_path):
    source = tmp_path / "fresh_kernel.py"
    source.write_text("from numba import njit\n\n@njit(cache=True)\ndef double(x):\n    return 2 * x\n")
    spec = importlib.util.spec_from_file_location("fresh_kernel", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not jit.cache_matches(module.double)
    assert module.double(21) == 42
    assert jit.cache_matches(module.double)
    warm_up()
    montecarlo.warm_up()
    assert jit.cache_matches(kernel.run_kernel, montecarlo._paths_kernel)


INTERPRETED_RUN = """
import json, sys, threading
from backtests.engine import jit, kernel, montecarlo
from backtests.engine.run import _warm_frame, _warm_spec, run_backtest
assert not jit.cache_matches(kernel.run_kernel)  # an empty cache: nothing to load
never = threading.Event()
jit.warm_in_background(lambda: never.wait(600))  # a warm-up that has not compiled anything yet
result = run_backtest(_warm_frame(), _warm_spec())
assert kernel.run_kernel.signatures == []
print(json.dumps({"trades": result.trades[["entry_price", "exit_price", "pnl"]].values.tolist(),
                  "final_equity": float(result.equity.iloc[-1])}))
"""


def test_a_run_through_the_python_kernels_matches_the_compiled_run(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "empty-cache"), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", INTERPRETED_RUN], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    interpreted = json.loads(done.stdout.strip().splitlines()[-1])
    compiled = run_backtest(_warm_frame(), _warm_spec())
    assert len(interpreted["trades"]) == len(compiled.trades) > 0
    np.testing.assert_allclose(
        interpreted["trades"], compiled.trades[["entry_price", "exit_price", "pnl"]].values, rtol=1e-12
    )
    assert interpreted["final_equity"] == float(compiled.equity.iloc[-1])


def test_a_kernel_marked_to_wait_is_compiled_even_during_a_warm_up():
    @njit
    def triple(x):
        return 3 * x

    jit.wait_for_compile(triple)
    release = threading.Event()
    thread = jit.warm_in_background(lambda: release.wait(30))
    try:
        assert jit.interpreting()
        assert triple(2) == 6
        assert len(triple.signatures) == 1  # compiled, not answered by the Python function
        assert id(montecarlo._paths_kernel) in jit._waits_for_compile  # the Monte Carlo waits
    finally:
        release.set()
        thread.join(60)
