"""Sixth pass on the indicator modules (issue 19, "closer to the floor"): the same outputs, bit
for bit, as the code they replaced.

References: the module's previous ``compute`` kept verbatim (but for names) here, compared
through ``calculate_arrays`` on ``test_rewrites.py``'s datasets (clean, gaps and NaN rows, short,
ties) and on edge cases that reach each code path, for the default config and a few others.
"""

import numpy as np
import pandas as pd
import pytest
import talib

from modules.base import as_float
from modules.common.series import zones
from modules.tests.test_rewrites import DATASETS, assert_same_outputs, random_bars


# ---- rsi: the test for a TA-Lib 0 reads the RSI once instead of writing a mask -------------------
def rsi_ref(data, config):
    close = as_float(data, "close")
    rsi = talib.RSI(close, timeperiod=config["period"])
    if (rsi == 0).any():
        flat = (rsi == 0) & (talib.RSI(-close, timeperiod=config["period"]) == 0)
        rsi = np.where(flat, 50.0, rsi)
    return {"value": rsi, "zone": zones(rsi, config["overbought"], config["oversold"])}


def _flat_runs(n: int, seed: int, lead_nan: bool) -> pd.DataFrame:
    """Bars that start with a fall (only losses: TA-Lib's RSI is a real 0 there while RSI(-close)
    is 100) and later stand still (TA-Lib's RSI keeps its last value there), optionally after a
    leading NaN (the minimum is NaN, the exact test decides). A market flat from the start
    (TA-Lib's 0 on both sides: 50 by convention) is ``all_flat``."""
    data = random_bars(n, seed)
    close = data["close"].to_numpy(copy=True)
    close[:30] = np.linspace(close[30] + 3.0, close[30] + 0.1, 30)
    close[1000:1800] = close[999]
    close[2000:2020] = np.linspace(close[1999], close[1999] - 1.0, 20)
    close[2020:2900] = close[2019]
    if lead_nan:
        close[0] = np.nan
    data["close"] = close
    return data


RSI_DATASETS = {
    **DATASETS,
    "flat_runs": lambda: _flat_runs(3000, 4, False),
    "flat_runs_lead_nan": lambda: _flat_runs(3000, 5, True),
    "all_flat": lambda: random_bars(300, 6).assign(close=42.0),
    "all_nan": lambda: random_bars(50, 8).assign(close=np.nan),
    "empty": lambda: random_bars(50, 9).iloc[:0],
    "one_bar": lambda: random_bars(1, 10),
}


@pytest.mark.parametrize("dataset", RSI_DATASETS)
@pytest.mark.parametrize("config", [{}, {"period": 2}, {"period": 200}, {"period": 5, "overbought": 50}])
def test_rsi_same_as_before(dataset, config):
    assert_same_outputs("rsi", RSI_DATASETS[dataset](), config, rsi_ref)
