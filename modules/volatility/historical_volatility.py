"""Historical (close-to-close) volatility, annualized.

r_t = ln(close_t / close_{t-1}); HV = 100 * sample standard deviation (n - 1) of the last
``period`` returns * sqrt(bars per year), in percent per year (or per bar if ``annualize`` is
off). Bars per year = ``trading_days`` * 86,400 s / bar length, where the bar length is the
median spacing of the first (up to) 50 bars of the data: it depends only on the start of the
data, so there is no look-ahead (1 h bars, 252 days: 6,048 bars a year).

``trading_days`` is the market's trading days a year and should follow its calendar, as the
backtest metrics do (docs/metrics.md, "Annualisation"): 365.25 for 24/7 crypto (the default of
252 understates crypto volatility by √(365.25 / 252) ≈ 1.20), 260.9 for 24/5 FX and metals, 252
for exchange-listed indices and stocks on daily bars. Bars a day are counted as 86,400 s / bar,
which holds for markets that trade around the clock; for intraday bars of an exchange session,
scale ``trading_days`` by session hours / 24 (US 6.5 h: 252 × 6.5 / 24 = 68.25). ``regime`` is "high"
when HV is above its own SMA over ``regime_period`` bars. Reference: Hull, "Options, Futures
and Other Derivatives", ch. "Estimating volatility from historical data".

The rolling standard deviation is a Numba port of pandas' ``Series.rolling(period).std()``
(pandas 3.1's ``roll_var``, ``pandas/_libs/window/aggregations.pyx``: Welford's online update
with Kahan-compensated means, the window recomputed when a step loses too many digits, inf
taken as missing, a negative variance's root taken as 0) doing the same float operations in
the same order, so the values are pandas' to the bit (modules/tests/test_rewrites_custom.py
compares them on gaps, NaNs, zero closes, small and large periods), fused with the scaling to
percent in one pass instead of pandas' index arrays and temporaries.
"""

import numpy as np
import pandas as pd
import talib
from numba import njit

from modules.base import BaseModule, Output, Param, as_float
from modules.common.series import compare
from modules.common.swings_sr import utc_seconds
from modules.common.welford import add_var as _add_var
from modules.common.welford import remove_var as _remove_var


def bars_per_year(data: pd.DataFrame, trading_days: float) -> float:
    """``trading_days`` * bars per day, the bar length read from the first 50 bars."""
    seconds = utc_seconds(data, 51)
    spacing = np.diff(seconds)
    spacing = spacing[spacing > 0]
    if len(spacing) == 0:
        return np.nan
    return trading_days * 86400.0 / float(np.median(spacing))


class HistoricalVolatility(BaseModule):
    module_id = "historical_volatility"
    name = "Historical Volatility"
    category = "volatility"
    description = "Standard deviation of log returns, annualized, in percent."
    requires = ("close",)
    params = (
        Param("period", "integer", 20, title="Period", min=2, max=1000, step=1, key=True),
        Param(
            "annualize",
            "boolean",
            True,
            title="Annualize",
            help="Scale by sqrt(bars per year); off = per-bar volatility.",
        ),
        Param(
            "trading_days",
            "number",
            252,
            title="Trading Days per Year",
            min=1,
            max=366,
            step=1,
            help=(
                "The market's trading days a year: 365 for 24/7 crypto, 261 for 24/5 FX and metals, "
                "252 for stocks and indices on daily bars (intraday exchange bars: 252 × session hours / 24)."
            ),
        ),
        Param(
            "regime_period",
            "integer",
            100,
            title="Regime Average Period",
            min=2,
            max=5000,
            step=1,
            help="HV above its SMA over this many bars = high volatility regime.",
        ),
    )
    outputs = (
        Output("value", "numeric", "volatility, percent (per year when annualized)", primary=True),
        Output("regime", "categorical", "high / low volatility versus its average", values=("high", "low", "neutral")),
    )

    def compute(self, data, config):
        close = as_float(data, "close")
        returns = _ratio_to_previous(close)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.log(returns, out=returns)  # NumPy's log, in place
        scale = np.sqrt(bars_per_year(data, config["trading_days"])) if config["annualize"] else 1.0
        value = _percent_rolling_std(returns, config["period"], float(scale))
        average = talib.SMA(value, timeperiod=config["regime_period"])
        with np.errstate(invalid="ignore"):
            regime = compare(value, average, ("high", "low", "neutral"), ties="low")
        return {"value": value, "regime": regime}


@njit(cache=True, nogil=True, error_model="numpy")
def _ratio_to_previous(close):
    """close / the close before (NaN on the first bar; inf or NaN after a zero close, as NumPy)."""
    n = close.shape[0]
    out = np.empty(n)
    if n:
        out[0] = np.nan
    for t in range(1, n):
        out[t] = close[t] / close[t - 1]
    return out


@njit(cache=True, nogil=True)
def _percent_rolling_std(returns, period, scale):
    """100 * pandas' ``rolling(period).std(ddof=1)`` * scale (pandas' ``roll_var`` on a fixed
    window, then ``zsqrt``; NaN until ``period`` finite values are in the window)."""
    n = returns.shape[0]
    out = np.empty(n)
    nobs = 0.0
    mean_x = 0.0
    ssqdm_x = 0.0
    add_comp = 0.0
    remove_comp = 0.0
    unstable = False
    for i in range(n):
        if i > 0:
            if i >= period:
                nobs, mean_x, ssqdm_x, remove_comp, unstable = _remove_var(
                    returns[i - period], nobs, mean_x, ssqdm_x, remove_comp, unstable
                )
            nobs, mean_x, ssqdm_x, add_comp, unstable = _add_var(returns[i], nobs, mean_x, ssqdm_x, add_comp, unstable)
        if i == 0 or unstable:  # the first window, or digits lost: sum the window afresh
            nobs = 0.0
            mean_x = 0.0
            ssqdm_x = 0.0
            add_comp = 0.0
            remove_comp = 0.0
            for j in range(max(0, i - period + 1), i + 1):
                nobs, mean_x, ssqdm_x, add_comp, unstable = _add_var(
                    returns[j], nobs, mean_x, ssqdm_x, add_comp, unstable
                )
            unstable = False
        if nobs >= period and nobs > 1.0:
            var = ssqdm_x / (nobs - 1.0)
            out[i] = 100.0 * (0.0 if var < 0.0 else np.sqrt(var)) * scale
        else:
            out[i] = np.nan
    return out
