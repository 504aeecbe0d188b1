"""How the report shows metrics: labels, number formats, one-line plain-language readings and
the definitions of the appendix. The numbers themselves come from ``backtests.engine.metrics`` via the
run's stored ``metrics``; a missing or null metric shows as "n/a", never as an invented number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NA = "n/a"


def number_text(pattern: str, value: float) -> str:
    """``pattern.format(value)``, except that a value which rounds to zero at the pattern's
    precision is written as 0 (so "−0.00", "-0.0%" or "-0 R" never appear). The pattern's own
    text (outside the braces) holds no digit."""
    text = pattern.format(value)
    return text if any(c in "123456789" for c in text) else pattern.format(0.0)


def shown_value(pattern: str, value: float) -> float:
    """``value``, or 0.0 when it rounds to zero at the pattern's precision: what the reader sees,
    so the reading and the colour agree with the printed number."""
    return 0.0 if number_text(pattern, value) == pattern.format(0.0) else value


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    fmt: str  # str.format pattern for the value
    definition: str
    reading: Callable[[float, dict], str] | None = None
    missing: str = "Not defined for this run."
    higher_is_better: bool | None = True


def _read_net_return(v: float, m: dict) -> str:
    capital, final = _num(m.get("initial_capital")), _num(m.get("final_equity"))
    money = f" ({capital:,.0f} → {final:,.0f})" if capital and final is not None else ""
    text = (
        f"The account grew {v:.1f}%{money}."
        if v > 0
        else f"The account lost {-v:.1f}%{money}."
        if v < 0
        else "The account ended where it started."
    )
    bh = _num(m.get("buy_and_hold_return_pct"))
    if bh is not None:
        text += f" {'Beat' if v > bh else 'Trailed'} simply holding the market ({bh:+.1f}%)."
    return text


def _read_cagr(v: float, m: dict) -> str:
    days = _num(m.get("period_days"))
    note = " Extrapolated from under a year of data: treat with care." if days is not None and days < 365 else ""
    return f"The steady yearly rate that gives the same result: {v:+.1f}% a year.{note}"


def _read_win_rate(v: float, m: dict) -> str:
    text = f"{v:.0f} of every 100 trades made money."
    payoff = _num(m.get("payoff_ratio"))
    if v < 45 and payoff is not None:
        text += f" A low hit rate works only if wins are much larger than losses (here {payoff:.2f}×)."
    return text


def _read_profit_factor(v: float, m: dict) -> str:
    if v < 1:
        return f"Losses outweigh wins: each 1.00 lost brought back only {v:.2f}."
    if v < 1.3:
        return f"Barely profitable: {v:.2f} won per 1.00 lost; trading costs could erase it."
    if v < 2:
        return f"Profitable: {v:.2f} won for every 1.00 lost."
    return f"Strong: {v:.2f} won for every 1.00 lost; check it holds on other periods."


def _read_expectancy_r(v: float, m: dict) -> str:
    verb = "made" if v >= 0 else "lost"
    return f"On average a trade {verb} {abs(v):.2f} times the amount it risked."


def _read_drawdown(v: float, m: dict) -> str:
    mood = (
        "a mild dip"
        if v < 10
        else "a painful but survivable slide"
        if v < 25
        else "a deep hole; many traders abandon a system here"
    )
    return f"The deepest fall from a peak was {v:.1f}%: {mood}."


def _read_ratio(name: str, risk: str) -> Callable[[float, dict], str]:
    def read(v: float, m: dict) -> str:
        if v < 0:
            return f"Negative: the returns did not pay for the {risk} taken."
        if v < 1:
            return f"Modest return for the {risk} taken."
        if v < 2:
            return f"Good return for the {risk} taken."
        return f"Excellent return for the {risk} taken; make sure it is not overfitted."

    return read


def _read_esi(v: float, m: dict) -> str:
    mood = (
        "the edge held throughout the test"
        if v >= 80
        else "the edge came and went"
        if v >= 50
        else "most of the test had no edge"
    )
    return f"{v:.0f}% of the chronological slices of trades were profitable: {mood}."


def _read_pvs(v: float, m: dict) -> str:
    if v >= 95:
        return f"PVS {v:.0f}: very strong statistical evidence the edge is not luck."
    if v >= 90:
        return f"PVS {v:.0f}: strong statistical evidence the edge is not luck."
    if v >= 75:
        return f"PVS {v:.0f}: some evidence of an edge, not conclusive."
    if v >= 50:
        return f"PVS {v:.0f}: weak evidence; the results could well be luck."
    return f"PVS {v:.0f}: no statistical evidence of an edge."


def _read_trades(v: float, m: dict) -> str:
    if v == 0:
        return "No trades: the entry conditions never held in this period."
    if v < 30:
        return "Few trades: every statistic here is fragile."
    if v < 100:
        return "A moderate sample: the statistics are indicative."
    return "A solid sample of trades for the statistics."


def _read_buy_hold(v: float, m: dict) -> str:
    return f"What holding the market for the whole period returned ({'up' if v >= 0 else 'down'} {abs(v):.1f}%)."


SUMMARY = (
    Kpi(
        "net_return_pct",
        "Net return",
        "{:+.2f}%",
        "Final equity over initial capital, minus 1, in percent, after costs.",
        _read_net_return,
    ),
    Kpi(
        "cagr_pct",
        "CAGR",
        "{:+.2f}%",
        "Compound annual growth rate: (final / initial)^(1 / years) − 1, in "
        "percent, with years measured from the first to the last bar.",
        _read_cagr,
    ),
    Kpi(
        "win_rate",
        "Win rate",
        "{:.1f}%",
        "Percent of trades with a positive net P&L (a zero P&L is not a win).",
        _read_win_rate,
        "No trades.",
    ),
    Kpi(
        "profit_factor",
        "Profit factor",
        "{:.2f}",
        "Gross profit divided by gross loss. Undefined without losing trades (infinite) or without trades.",
        _read_profit_factor,
        "Undefined: no losing trades, or no trades.",
    ),
    Kpi(
        "expectancy_r",
        "Expectancy",
        "{:+.2f} R",
        "Average result per trade in R, where 1 R is the amount risked on the trade (entry to stop).",
        _read_expectancy_r,
        "Needs trades with a stop (R is undefined without one).",
    ),
    Kpi(
        "max_drawdown_pct",
        "Max drawdown",
        "{:.2f}%",
        "Largest fall of the equity curve from a running peak to a later trough, in percent of the peak.",
        _read_drawdown,
        higher_is_better=False,
    ),
    Kpi(
        "sharpe",
        "Sharpe",
        "{:.2f}",
        "Annualised Sharpe ratio: mean over standard deviation of the per-bar "
        "equity returns (risk-free rate 0), scaled by √(bars per year), the bars a year of the "
        "market's trading calendar (24/7 crypto, 24/5 FX and metals, exchange sessions for indices).",
        _read_ratio("Sharpe", "volatility"),
        "Undefined: too few returns or no variation.",
    ),
    Kpi(
        "sortino",
        "Sortino",
        "{:.2f}",
        "Like Sharpe, but dividing by the downside deviation only (returns "
        "below 0), so upside swings are not penalised.",
        _read_ratio("Sortino", "downside risk"),
        "Undefined: too few returns or no losing bars.",
    ),
    Kpi(
        "esi",
        "ESI",
        "{:.0f}",
        "Edge Stability Index, 0–100: the trades in time order are split into "
        "k = min(10, trades ÷ 5) equal folds; ESI is the percent of folds with a positive average P&L.",
        _read_esi,
        "Needs at least 10 trades.",
    ),
    Kpi(
        "pvs",
        "PVS",
        "{:.0f}",
        "Probabilistic Validation Score, 0–100: 100 × the Probabilistic Sharpe Ratio "
        "of the per-trade returns against a Sharpe of 0, corrected for skewness and kurtosis "
        "(Bailey & López de Prado, 2012).",
        _read_pvs,
        "Needs at least 10 trades.",
    ),
    Kpi("trade_count", "Trades", "{:,.0f}", "Number of closed trades.", _read_trades, higher_is_better=None),
    Kpi(
        "buy_and_hold_return_pct",
        "Buy & hold",
        "{:+.2f}%",
        "Return of buying at the first bar's close and "
        "selling at the last bar's close of the same period, without costs.",
        _read_buy_hold,
        higher_is_better=None,
    ),
)
SUMMARY_KEYS = {k.key for k in SUMMARY}

# Labels and definitions of the other metrics the engine may store; unknown keys still show,
# with a label made from the key.
OTHER = {
    "net_profit": ("Net profit", "Sum of the trades' net P&L, in account currency."),
    "gross_profit": ("Gross profit", "Sum of the winning trades' P&L."),
    "gross_loss": ("Gross loss", "Sum of the losing trades' P&L, as a positive number."),
    "profit_before_costs": ("Profit before costs", "Net profit plus all fees, spread and slippage."),
    "total_fees": ("Total costs", "Fees, spread and slippage paid over all trades."),
    "expectancy": ("Expectancy (money)", "Average net P&L per trade, in account currency."),
    "average_win": ("Average win", "Average P&L of the winning trades."),
    "average_loss": ("Average loss", "Average P&L of the losing trades (negative)."),
    "payoff_ratio": ("Payoff ratio", "Average win divided by the size of the average loss."),
    "largest_win": ("Largest win", "Best single trade, net P&L."),
    "largest_loss": ("Largest loss", "Worst single trade, net P&L."),
    "max_consecutive_wins": ("Max consecutive wins", "Longest run of winning trades in a row."),
    "max_consecutive_losses": ("Max consecutive losses", "Longest run of losing trades in a row."),
    "max_drawdown": ("Max drawdown (money)", "Largest peak-to-trough fall of equity, in account currency."),
    "max_drawdown_duration_bars": ("Longest drawdown (bars)", "Most bars spent below a previous equity peak."),
    "max_drawdown_duration_days": ("Longest drawdown (days)", "Most calendar days spent below a previous equity peak."),
    "sharpe_daily": ("Sharpe (daily)", "Sharpe ratio of daily equity returns, annualised."),
    "sortino_daily": ("Sortino (daily)", "Sortino ratio of daily equity returns, annualised."),
    "calmar": ("Calmar", "CAGR divided by max drawdown (both in percent)."),
    "sqn": ("SQN", "System Quality Number: √N × mean ÷ standard deviation of the trade results in R."),
    "exposure_pct": ("Exposure", "Percent of bars with a position open."),
    "average_bars_held": ("Average bars held", "Average trade length in bars."),
    "trades_per_month": ("Trades per month", "Trades divided by the months in the test period."),
    "winning_trades": ("Winning trades", "Trades with a positive net P&L."),
    "losing_trades": ("Losing trades", "Trades with a negative net P&L."),
    "long_trades": ("Long trades", "Trades that bought first."),
    "short_trades": ("Short trades", "Trades that sold first."),
    "initial_capital": ("Initial capital", "Account equity at the start."),
    "final_equity": ("Final equity", "Account equity at the end."),
    "period_days": ("Period (days)", "Calendar days from the first to the last bar."),
    "var_95_daily_pct": (
        "VaR 95% (daily)",
        "Historical value at risk: the 5th percentile of the daily returns; the worst day in twenty lost this or more.",
    ),
    "cvar_95_daily_pct": (
        "CVaR 95% (daily)",
        "Expected shortfall: the average of the daily returns at or below the 95% VaR.",
    ),
    "omega": ("Omega", "Sum of the daily gains divided by the sum of the daily losses (threshold 0)."),
    "tail_ratio": ("Tail ratio", "95th percentile of the daily returns over the size of the 5th percentile."),
    "ulcer_index": (
        "Ulcer index",
        "Root mean square of the percent below the running equity peak over every bar: depth and length of drawdowns.",
    ),
    "recovery_factor": ("Recovery factor", "Net profit divided by the max drawdown (both money)."),
    "kelly_pct": (
        "Kelly",
        "Kelly fraction of the trades, percent of equity: win rate − loss rate ÷ payoff ratio. Negative: no edge.",
    ),
    "max_drawdown_recovery_bars": (
        "Time to recover (bars)",
        "Bars from the deepest point of the max drawdown back to its peak; n/a if it never recovered.",
    ),
    "max_drawdown_recovery_days": (
        "Time to recover (days)",
        "Calendar days from the deepest point of the max drawdown back to its peak; n/a if it never recovered.",
    ),
    "best_month_pct": ("Best month", "Best calendar-month return (UTC)."),
    "worst_month_pct": ("Worst month", "Worst calendar-month return (UTC)."),
    "monthly_win_rate": ("Winning months", "Percent of calendar months with a positive return."),
    "exposure_adjusted_return_pct": (
        "Exposure-adjusted return",
        "Net return divided by the share of bars in the market: the return per unit of time invested.",
    ),
    "benchmark": ("Benchmark", "What the run is measured against: buy-and-hold of its market, or the series it named."),
    "benchmark_return_pct": ("Benchmark return", "Return of holding the benchmark from the first to the last bar."),
    "alpha_pct": (
        "Alpha",
        "Jensen's alpha, annualised: the daily return beyond what beta times the benchmark's explains, × days a year.",
    ),
    "beta": ("Beta", "Covariance of the daily returns with the benchmark's over the benchmark's variance."),
    "correlation": ("Correlation", "Pearson correlation of the daily returns with the benchmark's."),
    "tracking_error_pct": (
        "Tracking error",
        "Annualised standard deviation of the daily return minus the benchmark's.",
    ),
    "information_ratio": (
        "Information ratio",
        "Mean daily excess return over the benchmark ÷ tracking error, annualised.",
    ),
    "up_capture_pct": ("Up capture", "Average daily return on the benchmark's up days ÷ the benchmark's, percent."),
    "down_capture_pct": (
        "Down capture",
        "Average daily return on the benchmark's down days ÷ the benchmark's, percent.",
    ),
    "benchmark_days": ("Days compared", "Daily returns paired with the benchmark's."),
    "periods_per_year": (
        "Bars per year",
        "Bars a year that annualise Sharpe and Sortino: the market's trading days a year × its bars a day.",
    ),
    "annualisation": ("Annualised by", "Where the bars per year come from: the market's calendar, or the span."),
    "total_financing": (
        "Financing",
        "Swap, borrow and funding the positions paid over the run (negative: earned), in account currency.",
    ),
    "leverage_cap": (
        "Leverage cap",
        "The most notional per unit of equity an entry could open (account.leverage; by default the "
        "instrument's 1 ÷ margin rate). n/a: no cap.",
    ),
    "capped_entries": ("Entries capped", "Entries whose size the leverage cap cut (each keeps its requested size)."),
    "skipped_below_min_size": (
        "Entries under the minimum",
        "Entries skipped because their size, rounded down to the lot step, was under the instrument's minimum.",
    ),
    "liquidations": ("Liquidations", "Positions closed because equity fell to the maintenance margin."),
    "wiped_out": ("Account wiped out", "Whether equity reached 0; trading stopped there (ACCOUNT_WIPED_OUT)."),
    "intrabar_resolved": (
        "Bars settled by the magnifier",
        "Bars holding both the stop and the target whose finer bars showed which came first.",
    ),
    "intrabar_unresolved": (
        "Bars settled by the policy",
        "Bars holding both levels that the finer bars could not order: sameBarPolicy settled them.",
    ),
}
ANNUALISATION_TEXT = {
    "calendar:crypto": "24/7 crypto calendar",
    "calendar:fx": "24/5 FX and metals calendar",
    "calendar:index": "exchange sessions",
    "observed": "bars observed over the span",
}
HIDDEN = {"strategy_text", "price_decimals"}


def format_value(key: str, value: Any) -> str:
    """A metric value as text with the unit its key implies (``_pct`` percent, ``_r`` R)."""
    number = _num(value)
    if key == "annualisation":
        return ANNUALISATION_TEXT.get(str(value), str(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if number is None:
        return NA if value is None or isinstance(value, (int, float)) else str(value)
    if key.endswith("_pct") or key in ("win_rate", "monthly_win_rate"):
        return number_text("{:.2f}%", number)
    if key.endswith("_r"):
        return number_text("{:+.2f} R", number)
    if isinstance(value, int) or number.is_integer() and abs(number) >= 1000:
        return number_text("{:,.0f}", number)
    if abs(number) >= 100:
        return number_text("{:,.2f}", number)
    return f"{number:.3g}" if abs(number) < 0.01 and number else number_text("{:.2f}", number)


def metric_value(metrics: dict | None, key: str) -> float | None:
    """A stored metric as a finite float, or None (missing, null, not a number)."""
    return _num((metrics or {}).get(key))


def kpi_text(key: str, value: Any) -> str:
    """A summary metric as its KPI card prints it ("21.00%"); "n/a" when undefined. Charts that
    repeat a KPI (the underwater chart's "max") print this text, so the two always agree."""
    number = _num(value)
    kpi = next((k for k in SUMMARY if k.key == key), None)
    if number is None:
        return NA
    return number_text(kpi.fmt, number) if kpi else format_value(key, number)


def summary(metrics: dict | None, trade_count: int | None = None) -> list[dict]:
    """The KPI cards: key, label, text, reading and tone (good/bad/neutral)."""
    metrics = dict(metrics or {})
    if metrics.get("trade_count") is None and trade_count is not None:
        metrics["trade_count"] = trade_count
    cards = []
    for kpi in SUMMARY:
        value = _num(metrics.get(kpi.key))
        if value is None:
            cards.append({"key": kpi.key, "label": kpi.label, "text": NA, "reading": kpi.missing, "tone": "neutral"})
            continue
        value = shown_value(kpi.fmt, value)
        tone = "neutral"
        if kpi.key in ("net_return_pct", "cagr_pct", "expectancy_r", "sharpe", "sortino"):
            tone = "good" if value > 0 else "bad" if value < 0 else "neutral"
        elif kpi.key == "profit_factor":
            tone = "good" if value > 1 else "bad"
        elif kpi.key in ("esi", "pvs"):
            tone = "good" if value >= 75 else "bad" if value < 50 else "neutral"
        cards.append(
            {
                "key": kpi.key,
                "label": kpi.label,
                "text": number_text(kpi.fmt, value),
                "reading": kpi.reading(value, metrics) if kpi.reading else "",
                "tone": tone,
            }
        )
    return cards


def other_metrics(metrics: dict | None) -> list[dict]:
    """Every other stored metric with a scalar value, in a stable order: known ones first."""
    metrics = metrics or {}
    keys = [k for k in OTHER if k in metrics] + sorted(
        k for k in metrics if k not in OTHER and k not in SUMMARY_KEYS and k not in HIDDEN
    )
    rows = []
    for key in keys:
        value = metrics[key]
        if isinstance(value, (dict, list)):
            continue
        label = OTHER.get(key, (key.replace("_", " ").capitalize(), ""))[0]
        rows.append({"key": key, "label": label, "text": format_value(key, value)})
    return rows


def definitions(metrics: dict | None) -> list[dict]:
    """The appendix: the summary metrics, then the other metrics present in this run."""
    metrics = metrics or {}
    out = [{"label": k.label, "text": k.definition} for k in SUMMARY]
    out += [{"label": label, "text": text} for key, (label, text) in OTHER.items() if key in metrics]
    return out
