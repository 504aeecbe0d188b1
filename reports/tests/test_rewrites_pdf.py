"""The charts' coordinate text, rewritten to build it in one %-format, against the previous code
kept verbatim below: the same text, character for character."""

from __future__ import annotations

import numpy as np
import pytest

from reports import charts

# ---- the previous code, verbatim ----------------------------------------------------------------


def points_ref(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist()))


# ---- cases --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 17, 600, 5000])
@pytest.mark.parametrize("seed", [0, 1])
def test_points_is_the_previous_text(n, seed):
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-1e4, 1e4, n)
    ys = rng.normal(0, 1, n) * 10.0 ** rng.integers(-6, 9, n)
    ys[rng.random(n) < 0.1] = 0.05  # ties at the rounding digit
    ys[rng.random(n) < 0.05] = -0.0
    ys[rng.random(n) < 0.02] = -0.04  # rounds to -0.0
    ys[rng.random(n) < 0.02] = np.inf
    ys[rng.random(n) < 0.02] = np.nan
    xs_int = np.arange(n)  # integer arrays print as floats too
    assert charts._points(xs, ys) == points_ref(xs, ys)
    assert charts._points(xs_int, ys) == points_ref(xs_int, ys)
    assert charts._points(np.round(xs, 2), np.round(xs, 3) + 0.05) == points_ref(
        np.round(xs, 2), np.round(xs, 3) + 0.05
    )
