"""volume_profile against the previous kernel kept verbatim in test_rewrites.py
(``volume_profile_ref``), bit for bit, on more than that file's cases: configs that reach each
update path of the current kernel (up to ``MASKED_BINS`` bins and past it, the smallest and the
longest window) and data with fractional, zero, missing and huge volumes."""

import numpy as np
import pandas as pd
import pytest

from modules.tests.test_rewrites import DATASETS, assert_same_outputs, random_bars, volume_profile_ref
from modules.volume.volume_profile import MASKED_BINS


def fractional_volumes(n: int, seed: int) -> pd.DataFrame:
    """Bars whose volumes are not whole numbers (sums depend on their order), some 0 or NaN,
    one huge."""
    data = random_bars(n, seed, nan_rows=10, gaps=3)
    rng = np.random.default_rng(seed)
    volume = rng.lognormal(2.0, 1.5, n)
    volume[rng.integers(0, n, n // 20)] = 0.0
    volume[rng.integers(0, n, 5)] = np.nan
    volume[n // 2] = 1e15
    return data.assign(volume=volume)


DATA = {**DATASETS, "fractional": lambda: fractional_volumes(5000, 11)}
CONFIGS = [
    {},
    {"period": 2, "bins": 2},
    {"period": 30, "bins": 7, "value_area": 100},
    {"bins": 61, "value_area": 10},
    {"period": 500, "bins": 200},  # past MASKED_BINS: the bars' own loops
    {"period": 20, "bins": MASKED_BINS, "value_area": 95},
    {"period": 20, "bins": MASKED_BINS + 1, "value_area": 95},
    {"period": 5000, "bins": 3},
]


@pytest.mark.parametrize("dataset", DATA)
@pytest.mark.parametrize("config", CONFIGS)
def test_volume_profile_same_as_the_previous_kernel(dataset, config):
    assert_same_outputs("volume_profile", DATA[dataset](), config, volume_profile_ref)
