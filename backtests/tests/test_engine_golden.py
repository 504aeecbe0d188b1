"""The compiled simulation's exact output, pinned: trades and equity of a dozen runs that between
them use every exit rule, cost, sizing basis and position rule, hashed bit for bit.

The behaviour tests (test_engine_semantics.py) say what the rules are; these say the numbers did
not move by one ulp, which is what a refactor of kernel.py must keep. The inputs are built from
integers (prices on a 0.01 tick, signals from a multiplicative hash, ATR as the true range), not
from the sample CSV or TA-Lib, so the expected digests depend only on IEEE arithmetic in the
kernel, not on a parser or a C library's build.

After an intended change of the numbers, print the new table with
``python -m backtests.tests.test_engine_golden`` and paste it over ``EXPECTED``.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import pandas as pd
import pytest

from backtests.engine import kernel as K
from backtests.engine.simulate import Signals, SimulatedTrades, session_ends, simulate
from backtests.strategies.parse import build_strategy

N_BARS = 4000
BLOCK = [{"subConfirmations": [{"moduleId": "rsi", "config": {"operator": "<", "value": 30}}]}]
GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / phi: consecutive bars land far apart in the hash


def _hash(seed: int, n: int = N_BARS) -> np.ndarray:
    """Pseudo-random uint64 per bar from integer arithmetic alone (wraps modulo 2^64)."""
    x = np.arange(n, dtype=np.uint64) * np.uint64(GOLDEN) + np.uint64(seed)
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    return x ^ (x >> np.uint64(29))


def _market() -> pd.DataFrame:
    """Hourly OHLC on a 0.01 tick around 100, with occasional opening gaps (prices are exact
    quotients of integers, so the data is the same on every machine)."""
    step = (_hash(1) % np.uint64(41)).astype(np.int64) - 20
    gap = np.where(_hash(2) % np.uint64(10) == 0, (_hash(3) % np.uint64(101)).astype(np.int64) - 50, 0)
    close = 10_000 + np.cumsum(step)
    open_ = np.concatenate(([10_000], close[:-1])) + gap
    high = np.maximum(open_, close) + (_hash(4) % np.uint64(30)).astype(np.int64)
    low = np.minimum(open_, close) - (_hash(5) % np.uint64(30)).astype(np.int64)
    index = pd.date_range("2024-01-01", periods=N_BARS, freq="h", tz="UTC", name="timestamp")
    ticks = {"open": open_, "high": high, "low": low, "close": close}
    return pd.DataFrame({name: values / 100.0 for name, values in ticks.items()}, index=index)


def _signals(direction: str, seed: int, entry_per_mille: int = 60, exit_per_mille: int = 30) -> Signals:
    def on(salt: int, per_mille: int) -> np.ndarray:
        return np.asarray(_hash(seed * 8 + salt) % np.uint64(1000) < np.uint64(per_mille))

    none = np.zeros(N_BARS, dtype=bool)
    long_entry, long_exit = on(1, entry_per_mille), on(2, exit_per_mille)
    short_entry, short_exit = on(3, entry_per_mille), on(4, exit_per_mille)
    if direction == "Long":
        return Signals(long_entry, none, long_exit, none)
    if direction == "Short":
        return Signals(none, short_entry, none, short_exit)
    return Signals(long_entry, short_entry, long_exit, short_exit)


def _true_range(data: pd.DataFrame) -> np.ndarray:
    """Stands in for ATR (any positive series will do); NaN over 14 bars of warm-up, as ATR(14)."""
    high, low, close = (data[c].to_numpy() for c in ("high", "low", "close"))
    prev = np.concatenate(([np.nan], close[:-1]))
    out = np.maximum(high, prev) - np.minimum(low, prev)
    out[:14] = np.nan
    return out


UNITS, RISK, PER_EQUITY, EQUITY = (
    K.BASIS_UNITS,
    K.BASIS_RISK_FRACTION,
    K.BASIS_UNITS_PER_EQUITY,
    K.BASIS_EQUITY_FRACTION,
)
COSTS_POINTS = {"commissionPct": 0.01, "commissionFixed": 0.5, "spread": 0.02, "slippage": 0.01}
COSTS_PERCENT = {
    "commissionPct": 0.05,
    "spread": 0.02,
    "spreadUnit": "percent",
    "slippage": 0.01,
    "slippageUnit": "percent",
}

# name: (direction, exit, costs, pyramiding, sizing basis, size value per bar)
SCENARIOS = {
    "long_percent_stop_target": ("Long", {"stopLoss": 1, "takeProfit": 2}, {}, 1, RISK, 0.01),
    "short_atr_stop_r_target_costs": (
        "Short",
        {"stopLoss": {"value": 1.5, "unit": "atr"}, "takeProfit": {"value": 2, "unit": "r"}},
        COSTS_POINTS,
        1,
        RISK,
        0.01,
    ),
    "both_reverse_atr_trailing_target_first": (
        "Both",
        {
            "stopLoss": {"value": 2, "unit": "atr"},
            "takeProfit": {"value": 3, "unit": "atr"},
            "trailingStop": {"value": 1.5, "unit": "atr"},
            "exitOnOppositeSignal": True,
            "sameBarPolicy": "target_first",
        },
        COSTS_PERCENT,
        1,
        RISK,
        0.02,
    ),
    "long_points_stop_percent_trailing_break_even": (
        "Long",
        {"stopLoss": {"value": 0.4, "unit": "points"}, "trailingStop": 0.5, "breakEvenAtR": 1},
        {},
        1,
        EQUITY,
        1.0,
    ),
    "both_r_trailing_points_target_break_even": (
        "Both",
        {
            "stopLoss": 0.5,
            "takeProfit": {"value": 0.8, "unit": "points"},
            "trailingStop": {"value": 1, "unit": "r"},
            "breakEvenAtR": 0.5,
        },
        COSTS_POINTS,
        1,
        UNITS,
        10.0,
    ),
    "long_pyramiding_time_exit": (
        "Long",
        {"stopLoss": 0.8, "trailingStop": {"value": 0.3, "unit": "points"}, "maxBarsInTrade": 5},
        COSTS_POINTS,
        3,
        RISK,
        0.01,
    ),
    "both_sessions_new_york_capped": (
        "Both",
        {
            "stopLoss": 1,
            "closeAtSessionEnd": True,
            "sessionEnd": "17:00",
            "sessionTimezone": "America/New_York",
            "maxTradesPerSession": 1,
        },
        {},
        2,
        PER_EQUITY,
        0.05,
    ),
    "long_level_stop_and_target": (
        "Long",
        {
            "stopLoss": {"unit": "level", "value": 0.1, "level": {"column": "low"}},
            "takeProfit": {"unit": "level", "level": {"column": "high"}},
        },
        COSTS_POINTS,
        1,
        RISK,
        0.01,
    ),
    "short_level_stop_time_exit_pyramiding": (
        "Short",
        {"stopLoss": {"unit": "level", "value": 0.2, "level": {"column": "high"}}, "maxBarsInTrade": 3},
        COSTS_PERCENT,
        2,
        RISK,
        0.01,
    ),
    "both_signals_only_all_in": ("Both", {}, COSTS_POINTS, 1, EQUITY, 1.0),
    "long_risk_sizing_without_stop_utc_sessions": ("Long", {"closeAtSessionEnd": True}, {}, 1, RISK, 0.5),
    "long_size_warming_up_and_gaps": ("Long", {"stopLoss": 0.5, "takeProfit": 0.5}, {}, 4, UNITS, np.nan),
}

# name: (trades, skipped entries, final equity, sha256 of trades and equity, first 16 hex digits)
EXPECTED = {
    "both_r_trailing_points_target_break_even": (358, 0, 9072.48073105003, "b60b949661148c06"),
    "both_reverse_atr_trailing_target_first": (368, 2, 882.9710055137032, "ddd6c9e7a81303f7"),
    "both_sessions_new_york_capped": (153, 178, 4493.191455317569, "0f460858f166ca50"),
    "both_signals_only_all_in": (88, 0, 9984.379126333562, "8ba090f3bfa7d2bb"),
    "long_level_stop_and_target": (233, 19, 4465.474937982124, "c5ab403a185757bf"),
    "long_percent_stop_target": (88, 0, 9008.885146514014, "f17cbb564bfa49cd"),
    "long_points_stop_percent_trailing_break_even": (194, 0, 7574.718682660598, "30c50ddc700302df"),
    "long_pyramiding_time_exit": (249, 0, 6050.740558997615, "9e48bee3d4d43cce"),
    "long_risk_sizing_without_stop_utc_sessions": (139, 0, 9817.690432722173, "9e2aa36d4d0beca6"),
    "long_size_warming_up_and_gaps": (162, 44, 10017.259749999994, "f90add8e7f3e2a8e"),
    "short_atr_stop_r_target_costs": (134, 1, 8101.815143135741, "dc724ef708da6928"),
    "short_level_stop_time_exit_pyramiding": (224, 3, 2793.403036865187, "6e6d5bea7e763138"),
}


def run(name: str) -> SimulatedTrades:
    direction, exit_, costs, pyramiding, basis, size = SCENARIOS[name]
    body = {
        "marketContext": {"direction": direction},
        "decisionBlocks": BLOCK,
        "exit": exit_,
        "costs": costs,
        "sizing": {"moduleId": "fixed_units", "config": {"units": 1}, "pyramiding": pyramiding},
    }
    if direction == "Both":
        body["shortDecisionBlocks"] = BLOCK
    spec = build_strategy(body)
    data = _market()
    size_value = np.full(N_BARS, size)
    if np.isnan(size):  # a sizing module still warming up, then one that sometimes says zero
        size_value[200:] = np.where(_hash(6)[200:] % np.uint64(7) == 0, 0.0, 3.0)
    levels = {}
    if spec.exit.stop_loss is not None and spec.exit.stop_loss.unit == "level":
        levels["stop_level"] = data[spec.exit.stop_loss.source.column].to_numpy()
    if spec.exit.take_profit is not None and spec.exit.take_profit.unit == "level":
        levels["target_level"] = data[spec.exit.take_profit.source.column].to_numpy()
    sessions = None
    if spec.exit.close_at_session_end or spec.exit.max_trades_per_session:
        sessions = session_ends(data.index, spec.exit.session_end, spec.exit.session_timezone)
    return simulate(
        spec,
        _signals(direction, seed=zlib.crc32(name.encode())),
        *(data[c].to_numpy() for c in ("open", "high", "low", "close")),
        atr=_true_range(data) if spec.exit.uses_atr() else None,
        size_basis=basis,
        size_value=size_value,
        session_end=sessions,
        **levels,
    )


def fingerprint(sim: SimulatedTrades) -> tuple[int, int, float, str]:
    digest = hashlib.sha256()
    # NaN marks "none" (no stop, no risk); which NaN bit pattern the CPU produced is not a result
    # the columns the figures were recorded with; the account's (financing, requested size) came
    # later and must be neutral here: no instrument, no leverage cap, no financing
    values = sim.values[:, : K.F_FINANCING]
    assert not sim.column(K.F_FINANCING).any()
    assert np.array_equal(sim.column(K.F_REQUESTED_SIZE), sim.column(K.F_SIZE))
    values = np.where(np.isnan(values), np.nan, values)
    for array in (sim.entry_bar, sim.exit_bar, sim.direction, sim.reason, values, sim.equity):
        digest.update(np.ascontiguousarray(array).tobytes())
    return len(sim), sim.skipped_entries, float(sim.equity[-1]), digest.hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_trades_and_equity_are_unchanged_to_the_bit(name):
    assert fingerprint(run(name)) == EXPECTED[name]


def test_the_scenarios_reach_every_exit_reason_and_skip_entries():
    runs = [run(name) for name in SCENARIOS]
    reasons = set(np.concatenate([sim.reason for sim in runs]).tolist())
    # liquidation needs an account that runs out of margin: test_engine_account.py covers it
    assert reasons == set(range(len(K.EXIT_REASONS))) - {K.R_LIQUIDATION}
    assert sum(sim.skipped_entries for sim in runs) > 0
    assert any((sim.values[:, K.F_COMMISSION] > 0).any() for sim in runs)


if __name__ == "__main__":
    print("EXPECTED = {")
    for scenario in sorted(SCENARIOS):
        print(f"    {scenario!r}: {fingerprint(run(scenario))!r},")
    print("}")
