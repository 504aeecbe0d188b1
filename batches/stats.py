"""The Deflated Sharpe Ratio (Bailey & López de Prado, 2014, "The Deflated Sharpe Ratio:
Correcting for Selection Bias, Backtest Overfitting and Non-Normality", J. Portfolio Mgmt 40(5)).

Pure functions (numpy, the standard library and the engine's metrics). The DSR is the
engine's Probabilistic Sharpe Ratio (``backtests.engine.metrics.psr_from_moments``, the one
behind PVS) against SR0, the Sharpe ratio the best of N unskilled trials reaches by luck.
Sharpe ratios here are per observation (not annualised): SR = mean / std (ddof 1) of the
returns. In a batch the observations are the best run's per-trade returns (net ``pnl_pct`` /
100) and the trials are every succeeded run of the grid, each summarised by its own per-trade
Sharpe ratio.

    SR0 = sqrt(V[SR_n]) · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N·e)))          (expected max of N trials)
    DSR = PSR(SR0) = Φ( (SR − SR0) · sqrt(T − 1) / sqrt(1 − γ3·SR + (γ4 − 1)/4 · SR²) )

with γ the Euler–Mascheroni constant, γ3 the skewness and γ4 the (non-excess) kurtosis of the
returns (population moments). Edge cases: one trial (or zero variance across trials) → SR0 =
0, i.e. the DSR is the PSR against 0; fewer than two returns, zero variance of the returns or
a non-positive radicand → None.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from backtests.engine.metrics import psr_from_moments, return_moments, sharpe_per_period

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """SR0: the Sharpe ratio the best of ``n_trials`` independent unskilled trials reaches by
    luck, given the variance of the trials' Sharpe ratios (same units as those ratios)."""
    if n_trials < 2 or not sharpe_variance > 0:
        return 0.0
    a = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    b = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


def deflated_sharpe(
    sharpe: float, observations: int, skew: float, kurtosis: float, n_trials: int, sharpe_variance: float
) -> float | None:
    """The DSR, a probability in [0, 1], from summary numbers (per-observation Sharpe ratios)."""
    return psr_from_moments(sharpe, observations, skew, kurtosis, expected_max_sharpe(n_trials, sharpe_variance))


def deflated_sharpe_ratio(returns, trial_sharpes) -> dict | None:
    """The DSR of a selected strategy's ``returns`` given the per-observation Sharpe ratios of
    every trial (the selected one included). None when the returns' Sharpe ratio is undefined.
    Returns the inputs alongside: ``dsr``, ``sharpe``, ``expected_max_sharpe``, ``trials``,
    ``observations``, ``skew``, ``kurtosis``, ``sharpe_variance``."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    sharpe = sharpe_per_period(r)
    if sharpe is None:
        return None
    trials = np.asarray([s for s in trial_sharpes if s is not None and math.isfinite(s)], dtype=np.float64)
    n_trials = max(1, len(trials))
    variance = float(trials.var(ddof=1)) if len(trials) > 1 else 0.0
    skew, kurt = return_moments(r)
    return {
        "dsr": deflated_sharpe(sharpe, len(r), skew, kurt, n_trials, variance),
        "sharpe": sharpe,
        "expected_max_sharpe": expected_max_sharpe(n_trials, variance),
        "trials": n_trials,
        "observations": int(len(r)),
        "skew": skew,
        "kurtosis": kurt,
        "sharpe_variance": variance,
    }
