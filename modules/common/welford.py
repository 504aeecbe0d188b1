"""pandas' online variance steps (``add_var`` / ``remove_var`` of pandas 3.1's
``pandas/_libs/window/aggregations.pyx``: Welford's update with Kahan-compensated means, and the
flag that asks for the window to be summed afresh when a step leaves m2 with 3 significant
digits or fewer), as Numba functions doing the same float operations in the same order, for
ports of pandas' rolling variance that must give its values to the bit."""

import numpy as np
from numba import njit

#: pandas' threshold for a step that leaves m2 with 3 significant digits or fewer: the window is
#: then summed afresh (``InvCondTol`` in pandas/_libs/window/aggregations.pyx)
INV_COND_TOL = float(np.finfo(np.float64).eps * 1e3)


@njit(cache=True, nogil=True, inline="always")
def add_var(val, nobs, mean_x, ssqdm_x, compensation, unstable):
    """pandas' ``add_var`` (inf counts as missing, as pandas' window input turns it into NaN)."""
    if not np.isfinite(val):
        return nobs, mean_x, ssqdm_x, compensation, unstable
    prev_m2 = ssqdm_x
    nobs = nobs + 1.0
    prev_mean = mean_x - compensation
    y = val - compensation
    t = y - mean_x
    compensation = t + mean_x - y
    mean_x = mean_x + t / nobs
    ssqdm_x = ssqdm_x + (val - prev_mean) * (val - mean_x)
    if prev_m2 * INV_COND_TOL > ssqdm_x:  # possible catastrophic cancellation
        unstable = True
    return nobs, mean_x, ssqdm_x, compensation, unstable


@njit(cache=True, nogil=True, inline="always")
def remove_var(val, nobs, mean_x, ssqdm_x, compensation, unstable):
    """pandas' ``remove_var``."""
    if not np.isfinite(val):
        return nobs, mean_x, ssqdm_x, compensation, unstable
    prev_m2 = ssqdm_x
    nobs = nobs - 1.0
    if nobs != 0.0:
        prev_mean = mean_x - compensation
        y = val - compensation
        t = y - mean_x
        compensation = t + mean_x - y
        mean_x = mean_x - t / nobs
        ssqdm_x = ssqdm_x - (val - prev_mean) * (val - mean_x)
        if prev_m2 * INV_COND_TOL > ssqdm_x:
            unstable = True
    else:
        mean_x = 0.0
        ssqdm_x = 0.0
        unstable = False
    return nobs, mean_x, ssqdm_x, compensation, unstable
