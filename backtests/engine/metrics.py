"""Backtest metrics: pure functions of the trade list and the equity curve.

Formulas, units and edge cases are in docs/metrics.md; each function's docstring repeats
its own. Units: ``*_pct`` are percent (5.0 means 5 %); money is in account currency; ratios
are plain numbers. An undefined metric is ``None`` (JSON null), never NaN or infinity:
a number is never invented for it.

General edge cases:
- no trades: counts are 0, money totals are 0.0, per-trade averages and ratios are ``None``;
  returns and drawdown come from the (flat) equity curve, so 0.
- fewer than two returns, or zero variance: Sharpe, Sortino, SQN are ``None``.
- fewer than 10 trades: ESI and PVS are ``None``.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from backtests.engine import jit
from backtests.engine.downsample import downsample_equity as downsample_equity  # re-exported: one downsampler

SECONDS_PER_YEAR = 365.25 * 86_400
DAYS_PER_MONTH = 365.25 / 12
DAY_NS = 86_400 * 1_000_000_000
MIN_TRADES_SCORES = 10


def finite_or_none(x: Any) -> float | None:
    """``x`` as a float, or ``None`` when it is missing, NaN or infinite."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


_none_if_nan = finite_or_none  # the original name


def _constant(values: np.ndarray) -> bool:
    """Zero variance, tested exactly: a float std of identical values can come out as 1e-18
    instead of 0 and would turn "undefined" into an enormous ratio."""
    return bool(values.max() == values.min())


# ---- per-trade statistics ------------------------------------------------------------------------


def win_rate(pnl: np.ndarray) -> float | None:
    """Percent of trades with positive net pnl (a zero-pnl trade is not a win). None without trades."""
    return None if len(pnl) == 0 else float((pnl > 0).mean() * 100)


def profit_factor(pnl: np.ndarray) -> float | None:
    """Gross profit / gross loss (both positive money). None without trades or without losses
    (infinite); 0.0 when there are losses and no wins."""
    gross_loss = -pnl[pnl < 0].sum()
    if len(pnl) == 0 or gross_loss == 0:
        return None
    return float(pnl[pnl > 0].sum() / gross_loss)


def payoff_ratio(pnl: np.ndarray) -> float | None:
    """Average win / |average loss|. None without wins or without losses."""
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    if len(wins) == 0 or len(losses) == 0:
        return None
    return float(wins.mean() / -losses.mean())


def expectancy(values: np.ndarray) -> float | None:
    """Mean of ``values`` (net pnl money, or R multiples) ignoring NaN. None when none is finite."""
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def max_consecutive(pnl: np.ndarray, wins: bool = True) -> int:
    """Longest run of consecutive winning (pnl > 0) or losing (pnl < 0) trades, in trade order.
    A zero-pnl trade breaks both runs. 0 without trades."""
    hits = (pnl > 0) if wins else (pnl < 0)
    if not hits.any():
        return 0
    edges = np.diff(np.concatenate(([0], hits.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max())


def sqn(values: np.ndarray) -> float | None:
    """System Quality Number (Van Tharp): sqrt(N) × mean / sample std (ddof 1), N uncapped.
    None under 2 values or with zero variance."""
    values = values[np.isfinite(values)]
    if len(values) < 2 or _constant(values):
        return None
    return finite_or_none(math.sqrt(len(values)) * values.mean() / values.std(ddof=1))


def edge_stability_index(pnl: np.ndarray) -> float | None:
    """ESI, 0–100: the trades in chronological order are split into k = min(10, N // 5) folds
    of equal count (``np.array_split``: when N is not a multiple of k the first N mod k folds
    hold one trade more); ESI = 100 × the share of folds whose expectancy (mean net pnl) is
    strictly positive. None under 10 trades (then k >= 2 always)."""
    n = len(pnl)
    if n < MIN_TRADES_SCORES:
        return None
    k = max(2, min(10, n // 5))
    positive = sum(1 for fold in np.array_split(np.asarray(pnl, dtype=np.float64), k) if fold.mean() > 0)
    return 100.0 * positive / k


def sharpe_per_period(returns: np.ndarray) -> float | None:
    """mean / std (ddof 1) of the finite returns, per period (not annualised). None under 2
    returns or with zero variance."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) < 2 or _constant(r):
        return None
    return float(r.mean() / r.std(ddof=1))


def return_moments(returns: np.ndarray) -> tuple[float, float]:
    """(skewness, non-excess kurtosis) of the finite returns from population moments
    (scipy.stats.skew / kurtosis(fisher=False) with bias=True); (0, 3) for a constant series."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    centered = r - r.mean()
    m2 = float(np.mean(centered**2)) if len(r) else 0.0
    if m2 == 0:
        return 0.0, 3.0
    return float(np.mean(centered**3)) / m2**1.5, float(np.mean(centered**4)) / m2**2


def psr_from_moments(
    sharpe: float, observations: int, skew: float, kurtosis: float, benchmark_sharpe: float = 0.0
) -> float | None:
    """The PSR formula on summary numbers: Φ((SR − SR*) √(n − 1) / √(1 − γ3·SR + (γ4 − 1)/4·SR²)),
    SR and SR* per period, γ4 non-excess. A probability in [0, 1]; None under 2 observations or
    when the radicand is not positive."""
    if observations < 2:
        return None
    radicand = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not radicand > 0:
        return None
    z = (sharpe - benchmark_sharpe) * math.sqrt(observations - 1) / math.sqrt(radicand)
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def probabilistic_sharpe_ratio(returns: np.ndarray, benchmark_sharpe: float = 0.0) -> float | None:
    """PSR (Bailey & López de Prado, 2012, "The Sharpe ratio efficient frontier", eq. 11):
    Φ((SR − SR*) √(n − 1) / √(1 − γ3·SR + (γ4 − 1)/4·SR²)), with SR = mean / std (ddof 1) of the
    per-period returns (not annualised), γ3 the skewness and γ4 the (non-excess) kurtosis, both
    from population moments (scipy.stats.skew / kurtosis(fisher=False) with bias=True).
    None under 2 returns, with zero variance, or when the radicand is not positive."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    sr = sharpe_per_period(r)
    if sr is None:
        return None
    skew, kurt = return_moments(r)
    return psr_from_moments(sr, len(r), skew, kurt, benchmark_sharpe)


def probabilistic_validation_score(trade_returns: np.ndarray) -> float | None:
    """PVS, 0–100: 100 × PSR of the per-trade returns (net ``pnl_pct`` / 100) against a
    benchmark Sharpe of 0. None under 10 trades, or when the PSR is undefined."""
    if len(trade_returns) < MIN_TRADES_SCORES:
        return None
    psr = probabilistic_sharpe_ratio(trade_returns, 0.0)
    return None if psr is None else 100.0 * psr


# ---- equity-curve statistics ---------------------------------------------------------------------


def max_drawdown_pct(equity: np.ndarray, peaks: np.ndarray | None = None) -> float:
    """Largest peak-to-trough fall of the equity curve, in percent of the peak (>= 0). 0 when empty.
    ``peaks`` (the running maximum) may be passed when already computed."""
    if len(equity) == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity) if peaks is None else peaks
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmax((peaks - equity) / peaks) * 100)


def max_drawdown_money(equity: np.ndarray, peaks: np.ndarray | None = None) -> float:
    """Largest peak-to-trough fall of the equity curve, in money (>= 0). 0 when empty."""
    if len(equity) == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity) if peaks is None else peaks
    return float((peaks - equity).max())


def drawdown_durations(equity: np.ndarray, times_ns: np.ndarray, peaks: np.ndarray | None = None) -> tuple[int, float]:
    """(longest drawdown in bars, longest in days). A drawdown runs from a peak bar to the first
    later bar back at or above the peak, or to the last bar if it never recovers. The two
    longest may be different drawdowns (weekends count in days, not in bars). (0, 0.0) when the
    curve never falls."""
    if len(equity) < 2:
        return 0, 0.0
    peaks = np.maximum.accumulate(equity) if peaks is None else peaks
    at_peak = np.flatnonzero(equity >= peaks)
    ends = np.append(at_peak[1:], len(equity) - 1)
    starts = at_peak
    recovered = np.append(np.ones(len(at_peak) - 1, dtype=bool), equity[-1] >= equity[at_peak[-1]])
    bars = ends - starts
    # a gap of one bar between two peaks is no drawdown; the open tail counts if it fell at all
    real = np.where(recovered, bars > 1, bars > 0)
    if not real.any():
        return 0, 0.0
    days = (times_ns[ends] - times_ns[starts]) / DAY_NS
    return int(bars[real].max()), float(days[real].max())


def years_spanned(times_ns: np.ndarray) -> float:
    """Calendar years from the first to the last bar (365.25-day years)."""
    if len(times_ns) < 2:
        return 0.0
    return float(times_ns[-1] - times_ns[0]) / 1e9 / SECONDS_PER_YEAR


def periods_per_year(count: int, years: float) -> float | None:
    """Observed frequency: ``count`` returns over ``years``. The fallback when the market's
    calendar is not known (see ``calendar_annualisation``): right on long spans, inflated on a
    short window without a weekend (a Monday–Friday FX week counts 8,766 hourly bars a year
    instead of 6,261). None when the span is zero."""
    return count / years if years > 0 and count > 0 else None


# Trading days in a year by calendar: 24/7 crypto trades every day, 24/5 FX and metals five
# days in seven, exchange-listed indices and stocks about 252 sessions (weekends and holidays off).
TRADING_DAYS_PER_YEAR = {"crypto": 365.25, "fx": 365.25 * 5 / 7, "index": 252.0}
WEEK_SECONDS = 7 * 86_400


@dataclass(frozen=True)
class Annualisation:
    """How many bars (``periods_per_year``) and trading days (``days_per_year``) a market has in
    a year; ``basis`` says where the numbers come from."""

    periods_per_year: float
    days_per_year: float
    basis: str


def calendar_annualisation(calendar: str, bar_seconds: float, session_seconds: float | None = None) -> Annualisation:
    """Bars and trading days a year from the market's trading calendar and the bar size, never
    from the tested span (docs/metrics.md, "Annualisation").

    ``calendar``: ``"crypto"`` (24/7), ``"fx"`` (24/5, FX and metals) or ``"index"`` (exchange
    sessions, indices and stocks; ``session_seconds`` is the length of one session, needed for
    bars shorter than a day). Intraday bars: trading days × bars a trading day (24 h for crypto
    and FX, ⌈session / bar⌉ for an exchange, so a 6.5 h session has 7 hourly bars); daily bars:
    the trading days; weekly and longer: 365.25 days / bar. Raises ValueError for an unknown
    calendar, a bar that is not positive, or an exchange calendar without its session."""
    if calendar not in TRADING_DAYS_PER_YEAR:
        raise ValueError(f"unknown calendar {calendar!r}; expected one of {sorted(TRADING_DAYS_PER_YEAR)}")
    if not bar_seconds > 0:
        raise ValueError(f"bar_seconds must be positive, got {bar_seconds!r}")
    days = TRADING_DAYS_PER_YEAR[calendar]
    if bar_seconds >= WEEK_SECONDS:
        periods = SECONDS_PER_YEAR / bar_seconds
    elif bar_seconds >= 86_400:
        periods = days * 86_400 / bar_seconds
    elif calendar == "index":
        if not session_seconds or session_seconds <= 0:
            raise ValueError("an exchange calendar needs the session length for intraday bars")
        periods = days * math.ceil(session_seconds / bar_seconds - 1e-9)
    else:
        periods = days * 86_400 / bar_seconds
    return Annualisation(periods, days, f"calendar:{calendar}")


def sharpe_ratio(returns: np.ndarray, per_year: float | None) -> float | None:
    """Annualised Sharpe (risk-free 0): mean / sample std (ddof 1) × sqrt(periods per year).
    None under 2 returns, with zero variance, non-finite returns, or unknown frequency."""
    if len(returns) < 2 or per_year is None or not np.isfinite(returns).all() or _constant(returns):
        return None
    return finite_or_none(math.sqrt(per_year) * returns.mean() / returns.std(ddof=1))


def sortino_ratio(returns: np.ndarray, per_year: float | None) -> float | None:
    """Annualised Sortino (target 0): mean / downside deviation × sqrt(periods per year), with
    downside deviation = sqrt(mean(min(r, 0)²)) over all returns. None under 2 returns, with no
    negative return (zero downside), non-finite returns, or unknown frequency."""
    if len(returns) < 2 or per_year is None or not np.isfinite(returns).all():
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0:
        return None
    return finite_or_none(math.sqrt(per_year) * returns.mean() / downside)


def simple_returns(values: np.ndarray) -> np.ndarray:
    """r_t = v_t / v_{t-1} − 1; NaN where the previous value is not positive (a return across a
    wiped-out or negative account means nothing, and the ratios built on returns become null)."""
    if len(values) < 2:
        return np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values[:-1] > 0, values[1:] / values[:-1] - 1.0, np.nan)


def daily_closes(values: np.ndarray, times_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The value at the last bar of each UTC calendar day, and that bar's time."""
    if len(values) == 0:
        return values, times_ns
    day = times_ns // DAY_NS
    last = np.append(np.flatnonzero(day[1:] != day[:-1]), len(values) - 1)
    return values[last], times_ns[last]


def cagr_pct(initial: float, final: float, years: float) -> float | None:
    """Compound annual growth rate in percent: ((final / initial)^(1 / years) − 1) × 100.
    −100 when final <= 0; None when the span is zero or the result overflows. Spans shorter
    than a year are extrapolated (a month's +5 % is about +80 % a year)."""
    if years <= 0 or initial <= 0:
        return None
    if final <= 0:
        return -100.0
    try:
        return finite_or_none(((final / initial) ** (1.0 / years) - 1.0) * 100.0)
    except OverflowError:
        return None


def exposure_pct(entry_bar: np.ndarray, exit_bar: np.ndarray, bars: int) -> float:
    """Percent of bars on which a position is held at some point: the union of
    [entry_bar, exit_bar] over the trades (as backtesting.py counts it). 0 without trades."""
    if bars == 0 or len(entry_bar) == 0:
        return 0.0
    marks = np.zeros(bars + 1, dtype=np.int64)
    np.add.at(marks, entry_bar, 1)
    np.add.at(marks, exit_bar + 1, -1)
    return float((np.cumsum(marks[:-1]) > 0).mean() * 100)


# ---- tail and path statistics --------------------------------------------------------------------


def value_at_risk(returns: np.ndarray, level: float = 0.95) -> float | None:
    """Historical VaR: the (1 − level) quantile of the returns (numpy's linear interpolation
    between order statistics), as a return: −0.021 means the worst 5 % of periods lost 2.1 % or
    more. None under 2 finite returns."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) < 2:
        return None
    return float(np.quantile(r, 1.0 - level))


def conditional_value_at_risk(returns: np.ndarray, level: float = 0.95) -> float | None:
    """Historical CVaR (expected shortfall): the mean of the returns at or below the historical
    VaR, as a return (<= VaR). None under 2 finite returns."""
    var = value_at_risk(returns, level)
    if var is None:
        return None
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    return float(r[r <= var].mean())


def omega_ratio(returns: np.ndarray, threshold: float = 0.0) -> float | None:
    """Omega at ``threshold`` (per period): Σ max(r − τ, 0) / Σ max(τ − r, 0). None under 2 finite
    returns or when no return is below the threshold (infinite)."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)] - threshold
    if len(r) < 2:
        return None
    losses = float(-r[r < 0].sum())
    return float(r[r > 0].sum()) / losses if losses > 0 else None


def tail_ratio(returns: np.ndarray, cutoff: float = 0.95) -> float | None:
    """|cutoff quantile| / |(1 − cutoff) quantile| of the returns (linear interpolation): how much
    bigger the good tail is than the bad one. None under 2 finite returns or when the lower
    quantile is 0."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) < 2:
        return None
    lower = abs(float(np.quantile(r, 1.0 - cutoff)))
    return abs(float(np.quantile(r, cutoff))) / lower if lower > 0 else None


def ulcer_index(equity: np.ndarray, peaks: np.ndarray | None = None) -> float:
    """Ulcer index (Peter Martin, 1987), percent: √(mean over all bars of D_t²), D_t the percent
    below the running peak (0 at a peak). 0 for a curve that never falls or is empty."""
    if len(equity) == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity) if peaks is None else peaks
    with np.errstate(divide="ignore", invalid="ignore"):
        below = np.where(peaks > 0, (peaks - equity) / peaks * 100.0, 0.0)
    return float(math.sqrt(float(np.mean(below**2))))


def recovery_factor(net_profit: float, max_drawdown: float) -> float | None:
    """Net profit / max drawdown, both in money. None when the curve never fell."""
    return net_profit / max_drawdown if max_drawdown > 0 else None


def kelly_fraction(pnl: np.ndarray) -> float | None:
    """Kelly criterion of the trades, a fraction of equity: W − (1 − W) / B, with W the share of
    trades with positive pnl (among all trades, a zero pnl counts as not a win) and B the payoff
    ratio. Negative means no edge (bet nothing). None without wins or without losses."""
    payoff = payoff_ratio(pnl)
    if payoff is None:
        return None
    win = float((pnl > 0).mean())
    return win - (1.0 - win) / payoff


def drawdown_recovery(
    equity: np.ndarray, times_ns: np.ndarray, peaks: np.ndarray | None = None
) -> tuple[int | None, float | None]:
    """Time to recover from the largest drawdown (in percent): (bars, days) from its trough to the
    first later bar at or above the peak before it. (0, 0.0) when the curve never fell; (None,
    None) when it has not recovered by the last bar."""
    if len(equity) < 2:
        return 0, 0.0
    peaks = np.maximum.accumulate(equity) if peaks is None else peaks
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.nan_to_num(np.where(peaks > 0, (peaks - equity) / peaks, 0.0), nan=0.0)
    trough = int(np.argmax(falls))
    if falls[trough] <= 0:
        return 0, 0.0
    back = np.flatnonzero(equity[trough:] >= peaks[trough])
    if not len(back):
        return None, None
    end = trough + int(back[0])
    return end - trough, float(times_ns[end] - times_ns[trough]) / DAY_NS


def monthly_returns(values: np.ndarray, times_ns: np.ndarray, initial: float) -> tuple[list[str], np.ndarray]:
    """Returns per UTC calendar month, in percent: each month's last value against the previous
    month's last (the first month against ``initial``, or the first value when ``initial`` is not
    positive). (["2024-01", ...], returns). Empty without values."""
    if len(values) == 0:
        return [], np.zeros(0)
    # The bars are in time order: find each month's first bar by searching the few month starts
    # (a million-bar series has a few dozen months) instead of converting every timestamp.
    span = np.array([times_ns[0], times_ns[-1]], dtype="datetime64[ns]").astype("datetime64[M]")
    starts = np.arange(span[0], span[1] + np.timedelta64(2, "M"), dtype="datetime64[M]")
    first_bar = np.searchsorted(times_ns, starts.astype("datetime64[ns]").astype(np.int64))
    present = first_bar[1:] > first_bar[:-1]  # months with at least one bar
    last = (first_bar[1:] - 1)[present]
    months = starts[:-1][present]
    closes = values[last]
    previous = np.concatenate(([initial if initial > 0 else values[0]], closes[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = (closes / previous - 1.0) * 100.0
    return [str(m) for m in months], returns


def exposure_adjusted_return_pct(net_return: float, exposure: float) -> float | None:
    """Net return per unit of time in the market, percent: net_return_pct / (exposure_pct / 100).
    None when no position was ever held."""
    return net_return / (exposure / 100.0) if exposure > 0 else None


# ---- the equity curve's statistics without the temporaries ----------------------------------------
#
# compute_all reads a million-bar curve a dozen times through the functions above (running peak,
# drawdowns, durations, recovery, ulcer, returns, their mean, deviation and downside), each making
# arrays of the curve's length: a fresh 8 MB array costs more in page faults than its arithmetic.
# _curve_stats computes the same numbers in two compiled walks over the curve: each value is the
# same IEEE operations on the same operands as the functions above (no reassociation, no fused
# multiply-add), the maxima and minima are exact whatever the order, and every sum is NumPy's own
# (``np.mean`` / ``ndarray.sum`` over the terms the walks write into two scratch arrays kept per
# thread), so bit for bit. It applies to the usual curve, every value finite and positive and the
# times increasing; any other (a wiped-out account, a curve of one bar) goes through the functions
# above. test_metrics_curve_pass.py checks the two agree exactly. _curve_walk divides only by values
# it has found positive, so it is compiled without Python's zero-division check
# (``error_model="numpy"``: no test and branch per division; the quotients are the same).


@njit(cache=True, nogil=True, error_model="numpy")
def _curve_walk(
    eq: np.ndarray, times: np.ndarray, below_sq: np.ndarray, returns: np.ndarray, last: np.ndarray
) -> tuple[bool, int, float, int, float, float, int, int, float, float]:
    """One walk over ``eq`` (money per bar) at ``times`` (int64 ns). Writes ``below_sq`` (n values:
    the squared percent below the running peak, ``ulcer_index``'s terms), ``returns`` (n - 1 simple
    returns) and ``last`` (each UTC day's last bar; at least as long as the days spanned). Returns
    (whether every value is finite and positive, the times increase and the days fit ``last`` --
    if not, the rest is meaningless --, the longest drawdown in bars and in days as
    ``drawdown_durations``, the number of days, the largest fall below the peak in money, the
    largest in fractions of the peak and its first bar (the trough), the first bar at or above the
    trough's peak after it (-1: never), the least and the largest return)."""
    n = eq.shape[0]
    peak = eq[0]
    last_peak = 0
    dd_bars = 0
    dd_days = 0.0
    real = False
    days = 0
    max_money = 0.0
    max_fall = -1.0
    trough = 0
    recovered = -1
    low = np.inf
    high = -np.inf
    midnight = (times[0] // DAY_NS + 1) * DAY_NS  # one division a day, not one a bar
    previous = eq[0]  # the bar before's value and time, kept rather than read again
    previous_time = times[0]
    for i in range(n):
        e = eq[i]
        if not (e > 0.0 and e < np.inf):
            return False, 0, 0.0, 0, 0.0, 0.0, 0, -1, 0.0, 0.0
        if e >= peak:  # at a peak: the drawdown since the last one ends here
            if recovered < 0 and i > trough:
                recovered = i  # the trough's peak, unchanged since, is reached again
            bars = i - last_peak
            if bars > 1:
                span = (times[i] - times[last_peak]) / DAY_NS
                if not real or bars > dd_bars:
                    dd_bars = bars
                if not real or span > dd_days:
                    dd_days = span
                real = True
            last_peak = i
            peak = e
        money = peak - e
        if money > max_money:
            max_money = money
        fall = money / peak
        if fall > max_fall:  # strictly: the first bar of the largest fall, as np.argmax
            max_fall = fall
            trough = i
            recovered = -1
        below = fall * 100.0
        below_sq[i] = below * below
        if i > 0:
            t = times[i]
            if t <= previous_time:
                return False, 0, 0.0, 0, 0.0, 0.0, 0, -1, 0.0, 0.0
            previous_time = t
            if t >= midnight:
                if days == last.shape[0]:
                    return False, 0, 0.0, 0, 0.0, 0.0, 0, -1, 0.0, 0.0
                last[days] = i - 1
                days += 1
                midnight = (t // DAY_NS + 1) * DAY_NS
            r = e / previous - 1.0
            returns[i - 1] = r
            if r < low:
                low = r
            if r > high:
                high = r
        previous = e
    if days == last.shape[0]:
        return False, 0, 0.0, 0, 0.0, 0.0, 0, -1, 0.0, 0.0
    last[days] = n - 1
    days += 1
    if last_peak < n - 1:  # the open tail: a drawdown not recovered by the last bar
        bars = n - 1 - last_peak
        span = (times[n - 1] - times[last_peak]) / DAY_NS
        if not real or bars > dd_bars:
            dd_bars = bars
        if not real or span > dd_days:
            dd_days = span
    return True, dd_bars, dd_days, days, max_money, max_fall, trough, recovered, low, high


@njit(cache=True, nogil=True)
def _deviation_walk(returns: np.ndarray, mean: float, deviation_sq: np.ndarray) -> None:
    """``deviation_sq`` = (returns - mean)², and ``returns`` overwritten by min(returns, 0)²: the
    terms of the sample variance and of the downside deviation."""
    for i in range(returns.shape[0]):
        r = returns[i]
        d = r - mean
        deviation_sq[i] = d * d
        down = min(r, 0.0)
        returns[i] = down * down


class _Scratch(threading.local):
    """Two float64 work arrays per thread, kept between runs (a run of n bars needs 2 × 8n bytes)."""

    arrays: tuple[np.ndarray, np.ndarray] | None = None


_scratch = _Scratch()


def _work_arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two float64 arrays of ``n`` values, views of this thread's kept scratch (made anew when it is
    too small, or more than twice too large, so one long run does not hold its memory for good)."""
    kept = _scratch.arrays
    if kept is None or not n <= len(kept[0]) <= 2 * n:
        kept = (np.empty(n), np.empty(n))
        _scratch.arrays = kept
    return kept[0][:n], kept[1][:n]


@dataclass(frozen=True)
class CurveStats:
    """The equity curve's figures that compute_all takes from _curve_stats."""

    max_drawdown_pct: float
    max_drawdown_money: float
    drawdown_bars: int
    drawdown_days: float
    recovery_bars: int | None
    recovery_days: float | None
    ulcer: float
    sharpe: float | None
    sortino: float | None
    day_last: np.ndarray  # each UTC day's last bar


def _curve_stats(eq: np.ndarray, times: np.ndarray, per_year: float | None) -> CurveStats | None:
    """The functions above's numbers for the curve ``eq`` at ``times`` (int64 ns), or None when the
    curve is not one this path takes (fewer than 2 bars, a value not finite or not positive, times
    not increasing, or the compiled walks not compiled yet while kernels compile in the background)."""
    n = len(eq)
    if n < 2 or not (jit.usable(_curve_walk) and jit.usable(_deviation_walk)):
        return None
    eq = jit.read_only(eq, np.float64)
    times = jit.read_only(times, np.int64)
    below_sq, work = _work_arrays(n)
    m = n - 1
    returns = work[:m]
    # the days spanned, one more for times that do not increase (the walk then stops)
    last = np.empty(min(n, max(int(times[-1] // DAY_NS - times[0] // DAY_NS), 0) + 2), dtype=np.int64)
    ok, dd_bars, dd_days, days, max_money, max_fall, trough, recovered, low, high = _curve_walk(
        eq, times, below_sq, returns, last
    )
    if not ok:
        return None
    # drawdown_recovery: from the trough to the first bar back at its peak
    recovery_bars: int | None = 0
    recovery_days: float | None = 0.0
    if max_fall > 0:
        recovery_bars, recovery_days = None, None
        if recovered >= 0:
            recovery_bars, recovery_days = recovered - trough, float(times[recovered] - times[trough]) / DAY_NS
    ulcer = math.sqrt(float(np.mean(below_sq)))  # ulcer_index
    # sharpe_ratio and sortino_ratio of simple_returns(eq), NumPy's mean and std(ddof=1) step by step
    sharpe = sortino = None
    if m >= 2 and per_year is not None and np.isfinite(low) and np.isfinite(high):
        mean = returns.mean()
        deviation_sq = below_sq[:m]
        _deviation_walk(returns, float(mean), deviation_sq)
        if high != low:
            std = np.sqrt(deviation_sq.sum() / (m - 1))
            sharpe = finite_or_none(math.sqrt(per_year) * mean / std)
        downside = math.sqrt(float(np.mean(returns)))
        sortino = None if downside == 0 else finite_or_none(math.sqrt(per_year) * mean / downside)
    return CurveStats(
        max_drawdown_pct=float(max_fall * 100),
        max_drawdown_money=float(max_money),
        drawdown_bars=int(dd_bars),
        drawdown_days=float(dd_days),
        recovery_bars=recovery_bars,
        recovery_days=recovery_days,
        ulcer=ulcer,
        sharpe=sharpe,
        sortino=sortino,
        day_last=last[:days],
    )


@njit(cache=True, nogil=True)
def _bars_held_union(entry_bar: np.ndarray, exit_bar: np.ndarray, bars: int) -> int:
    """How many of ``bars`` bars lie in at least one [entry_bar, exit_bar] (what ``exposure_pct``
    counts); -1 when a bar is outside 0 .. bars - 1 (the caller then takes the array way)."""
    order = np.argsort(entry_bar, kind="mergesort")
    covered = 0
    end = -1  # last bar covered so far
    for k in order:
        start, stop = entry_bar[k], exit_bar[k]
        if start < 0 or stop >= bars or stop < start:
            return -1
        if start > end:
            covered += stop - start + 1
            end = stop
        elif stop > end:
            covered += stop - end
            end = stop
    return covered


# ---- all together ------------------------------------------------------------------------------


def compute_all(
    trades: pd.DataFrame,
    equity: pd.Series,
    initial_capital: float,
    close: np.ndarray | None = None,
    *,
    annualisation: Annualisation | None = None,
) -> dict[str, Any]:
    """Every metric, as a JSON-safe dict (floats, ints, None). ``trades`` needs ``pnl``;
    ``r_multiple``, ``pnl_pct``, ``bars_held``, ``fees``, ``gross_pnl``, ``direction``,
    ``entry_bar``/``exit_bar`` are used when present. ``equity`` is per bar on a UTC
    DatetimeIndex; ``close`` gives buy-and-hold over the same bars.

    ``annualisation``: bars and trading days a year from the market's calendar
    (``calendar_annualisation``); without it, the observed frequency over the span (pure default,
    for data of unknown calendar)."""

    def has(name: str) -> bool:
        """There are trades and they carry the optional column ``name``."""
        return bool(n_trades) and name in trades.columns

    def column(name: str) -> np.ndarray:
        return trades[name].to_numpy(dtype=np.float64)

    pnl = column("pnl") if len(trades) else np.zeros(0)
    n_trades = len(pnl)
    r = column("r_multiple") if has("r_multiple") else np.full(n_trades, np.nan)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    eq = equity.to_numpy(dtype=np.float64)
    times = _nanoseconds(equity.index) if isinstance(equity.index, pd.DatetimeIndex) else np.arange(len(eq))
    final = float(eq[-1]) if len(eq) else float(initial_capital)
    years = years_spanned(times)
    bar_return_count = max(len(eq) - 1, 0)  # len(simple_returns(eq))
    if annualisation is not None:
        per_bar_year: float | None = annualisation.periods_per_year
        per_day_year: float | None = annualisation.days_per_year
    else:
        per_bar_year = periods_per_year(bar_return_count, years)
    curve = _curve_stats(eq, times, per_bar_year)
    if curve is None:
        day_values, day_times = daily_closes(eq, times)
    else:
        day_values, day_times = eq[curve.day_last], times[curve.day_last]
    day_returns = simple_returns(day_values)
    if annualisation is None:
        per_day_year = periods_per_year(len(day_returns), years_spanned(day_times))
    if curve is None:
        bar_returns = simple_returns(eq)
        peaks = np.maximum.accumulate(eq) if len(eq) else eq
        mdd_pct = max_drawdown_pct(eq, peaks)
        dd_bars, dd_days = drawdown_durations(eq, times, peaks)
        max_dd_money = max_drawdown_money(eq, peaks)
        recovery_bars, recovery_days = drawdown_recovery(eq, times, peaks)
        ulcer = ulcer_index(eq, peaks)
        sharpe = sharpe_ratio(bar_returns, per_bar_year)
        sortino = sortino_ratio(bar_returns, per_bar_year)
    else:
        mdd_pct, max_dd_money = curve.max_drawdown_pct, curve.max_drawdown_money
        dd_bars, dd_days = curve.drawdown_bars, curve.drawdown_days
        recovery_bars, recovery_days = curve.recovery_bars, curve.recovery_days
        ulcer, sharpe, sortino = curve.ulcer, curve.sharpe, curve.sortino
    cagr = cagr_pct(float(initial_capital), final, years)
    fees = column("fees") if has("fees") else np.zeros(n_trades)
    gross = column("gross_pnl") if has("gross_pnl") else pnl + fees
    r_all = np.isfinite(r).all() and n_trades > 0
    directions = trades["direction"].to_numpy() if n_trades and "direction" in trades.columns else np.zeros(0)
    returns_per_trade = column("pnl_pct") / 100.0 if has("pnl_pct") else np.zeros(n_trades)
    span_days = years * 365.25
    exposure = (
        _exposure(trades["entry_bar"].to_numpy(), trades["exit_bar"].to_numpy(), len(eq))
        if n_trades and "entry_bar" in trades.columns
        else 0.0
    )
    net_return = (final / initial_capital - 1) * 100
    kelly = kelly_fraction(pnl)
    month_labels, month_returns = monthly_returns(eq, times, float(initial_capital))
    finite_months = month_returns[np.isfinite(month_returns)]
    var_95, cvar_95, tail = _tail_figures(day_returns)
    result: dict[str, Any] = {
        "trade_count": int(n_trades),
        "long_trades": int((directions == "long").sum()),
        "short_trades": int((directions == "short").sum()),
        "winning_trades": int(len(wins)),
        "losing_trades": int(len(losses)),
        "win_rate": win_rate(pnl),
        "profit_factor": profit_factor(pnl),
        "net_profit": float(pnl.sum()),
        "gross_profit": float(wins.sum()),
        "gross_loss": float(-losses.sum()),
        "profit_before_costs": float(gross.sum()),
        "total_fees": float(fees.sum()),
        "net_return_pct": net_return,
        "cagr_pct": cagr,
        "buy_and_hold_return_pct": (
            float((close[-1] / close[0] - 1) * 100) if close is not None and len(close) else None
        ),
        "expectancy": expectancy(pnl),
        "expectancy_r": expectancy(r),
        "average_win": float(wins.mean()) if len(wins) else None,
        "average_loss": float(losses.mean()) if len(losses) else None,
        "payoff_ratio": payoff_ratio(pnl),
        "largest_win": float(wins.max()) if len(wins) else None,
        "largest_loss": float(losses.min()) if len(losses) else None,
        "max_consecutive_wins": max_consecutive(pnl, wins=True),
        "max_consecutive_losses": max_consecutive(pnl, wins=False),
        "max_drawdown_pct": mdd_pct,
        "max_drawdown": max_dd_money,
        "max_drawdown_duration_bars": dd_bars,
        "max_drawdown_duration_days": dd_days,
        "sharpe": sharpe,
        "sortino": sortino,
        "sharpe_daily": sharpe_ratio(day_returns, per_day_year),
        "sortino_daily": sortino_ratio(day_returns, per_day_year),
        "calmar": (cagr / mdd_pct) if cagr is not None and mdd_pct > 0 else None,
        "sqn": sqn(r if r_all else pnl),
        "exposure_pct": exposure,
        "average_bars_held": float(trades["bars_held"].mean()) if n_trades and "bars_held" in trades.columns else None,
        "trades_per_month": n_trades / (span_days / DAYS_PER_MONTH) if span_days > 0 else None,
        "esi": edge_stability_index(pnl),
        "pvs": probabilistic_validation_score(returns_per_trade),
        "initial_capital": float(initial_capital),
        "final_equity": final,
        "period_days": span_days,
        "var_95_daily_pct": None if var_95 is None else var_95 * 100,
        "cvar_95_daily_pct": None if cvar_95 is None else cvar_95 * 100,
        "omega": omega_ratio(day_returns),
        "tail_ratio": tail,
        "ulcer_index": ulcer,
        "recovery_factor": recovery_factor(float(pnl.sum()), max_dd_money),
        "kelly_pct": None if kelly is None else kelly * 100,
        "max_drawdown_recovery_bars": recovery_bars,
        "max_drawdown_recovery_days": recovery_days,
        "best_month_pct": float(finite_months.max()) if len(finite_months) else None,
        "worst_month_pct": float(finite_months.min()) if len(finite_months) else None,
        "monthly_win_rate": float((finite_months > 0).mean() * 100) if len(finite_months) else None,
        "exposure_adjusted_return_pct": exposure_adjusted_return_pct(net_return, exposure),
        "monthly_returns": [[m, finite_or_none(v)] for m, v in zip(month_labels, month_returns.tolist())],
        "periods_per_year": per_bar_year,
        "annualisation": annualisation.basis if annualisation is not None else "observed",
    }
    return {k: finite_or_none(v) if isinstance(v, float) else v for k, v in result.items()}


def _tail_figures(returns: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """(``value_at_risk``, ``conditional_value_at_risk``, ``tail_ratio``) of ``returns`` at their
    defaults (95 %) from one pass over the finite returns and two quantiles: the 5 % quantile is
    both the VaR and the tail ratio's lower end (the same q, 1.0 - 0.95), so the same number."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) < 2:
        return None, None, None
    var = float(np.quantile(r, 1.0 - 0.95))
    cvar = float(r[r <= var].mean())
    lower = abs(var)
    tail = abs(float(np.quantile(r, 0.95))) / lower if lower > 0 else None
    return var, cvar, tail


def _exposure(entry_bar: np.ndarray, exit_bar: np.ndarray, bars: int) -> float:
    """``exposure_pct`` by a walk over the trades instead of an array of the bars."""
    if bars == 0 or len(entry_bar) == 0 or not jit.usable(_bars_held_union):
        return exposure_pct(entry_bar, exit_bar, bars)
    covered = _bars_held_union(jit.read_only(entry_bar, np.int64), jit.read_only(exit_bar, np.int64), bars)
    if covered < 0:
        return exposure_pct(entry_bar, exit_bar, bars)
    return float(np.float64(covered) / bars * 100)


def _nanoseconds(index: pd.DatetimeIndex) -> np.ndarray:
    """The index's times as int64 nanoseconds (``as_unit("ns")`` converts even an index already in
    nanoseconds, a copy of the million values)."""
    return index.asi8 if index.unit == "ns" else index.as_unit("ns").asi8
