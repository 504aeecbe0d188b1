"""Every compiled kernel at once: what ``manage.py warm_kernels`` runs at install or image-build
time, and what a worker compiles in the background when its cache does not match (backtests/engine/jit.py)."""

from __future__ import annotations

import pandas as pd

from modules.registry import get_registry

from . import montecarlo
from .benchmark import closes_at
from .downsample import downsample_equity
from .portfolio import PortfolioRules, run_portfolio
from .run import _warm_frame, _warm_spec, warm_up


def warm_up_run() -> pd.DataFrame:
    """Load or compile the kernels every single-market run uses: the engine's, the Monte Carlo's
    and the stored curves' (what a worker loads from the cache at start, ``workers.signals``).
    Returns the small frame it ran on."""
    montecarlo.warm_up()  # first: runs wait for this one (jit.wait_for_compile), the others run as Python
    warm_up()
    data = _warm_frame(600)
    downsample_equity(data["close"], 10)  # a run's stored curves: the kept bars, the ISO times
    closes_at(data["close"], pd.DatetimeIndex(data.index))  # its benchmark's closes as of each bar
    return data


def warm_up_all() -> int:
    """Load or compile every kernel the platform has: ``warm_up_run``'s, the portfolio loop's and
    every registered module's (each run once with its defaults on a small frame). Returns the
    number of modules run."""
    data = warm_up_run()
    run_portfolio({"A": data, "B": data}, _warm_spec(), PortfolioRules())
    modules = get_registry().all()
    for cls in modules:
        cls().calculate(data, {})
    return len(modules)
