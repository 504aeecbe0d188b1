"""The compiled simulation loop (Numba, cached on disk so a fresh worker does not recompile).

One pass over the bars in machine code: a few nanoseconds per bar, so the run's cost is
dominated by the number of trades and the modules, never by Python work per bar. The rules
it implements are in docs/engine.md ("Semantics"); simulate.py prepares its inputs.

Inputs are plain arrays and one float64 parameter vector (indices ``P_*`` below) so the
compiled signature never changes and the on-disk cache is always hit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ---- parameter vector ---------------------------------------------------------------------------
(
    P_STOP_VAL,
    P_STOP_UNIT,
    P_TP_VAL,
    P_TP_UNIT,
    P_TRAIL_VAL,
    P_TRAIL_UNIT,
    P_BE_R,
    P_MAX_BARS,
    P_OPPOSITE,
    P_TARGET_FIRST,
    P_COMM_PCT,
    P_COMM_FIXED,
    P_SPREAD,
    P_SPREAD_PCT,
    P_SLIP,
    P_SLIP_PCT,
    P_PYRAMIDING,
    P_CAPITAL,
    P_SIZE_BASIS,
    P_CLOSE_SESSION,
    P_MAX_PER_SESSION,
) = range(21)
N_PARAMS = 21

UNIT_NONE, UNIT_PERCENT, UNIT_ATR, UNIT_POINTS, UNIT_R, UNIT_LEVEL = range(6)
UNIT_CODES = {"percent": UNIT_PERCENT, "atr": UNIT_ATR, "points": UNIT_POINTS, "r": UNIT_R, "level": UNIT_LEVEL}
BASIS_UNITS, BASIS_RISK_FRACTION, BASIS_UNITS_PER_EQUITY, BASIS_EQUITY_FRACTION = range(4)

EXIT_REASONS = ("stop", "target", "trailing", "signal", "time", "session_end", "end_of_data")
R_STOP, R_TARGET, R_TRAILING, R_SIGNAL, R_TIME, R_SESSION_END, R_END_OF_DATA = range(7)

# ---- trade record columns -----------------------------------------------------------------------
I_ENTRY_BAR, I_EXIT_BAR, I_DIRECTION, I_REASON = range(4)
N_INT = 4
(
    F_ENTRY_PRICE,
    F_EXIT_PRICE,
    F_SIZE,
    F_GROSS_PNL,
    F_COMMISSION,
    F_SPREAD_COST,
    F_SLIPPAGE_COST,
    F_PNL,
    F_RISK_PER_UNIT,
    F_MAE,
    F_MFE,
    F_STOP_PRICE,
    F_TARGET_PRICE,
    F_ENTRY_EQUITY,
) = range(14)
N_FLOAT = 14

# ---- open-trade slot columns (one row per open entry, kept in entry order) ----------------------
(
    S_DIR,
    S_ENTRY_BAR,
    S_FILL,
    S_RAW,
    S_SIZE,
    S_BASE_STOP,
    S_INIT_STOP,
    S_TARGET,
    S_TRAIL_DIST,
    S_RISK,
    S_FAV,
    S_ADV,
    S_COMM,
    S_HALF_SPREAD,
    S_SLIP,
    S_BE_DONE,
    S_TIME_EXIT,
    S_EQUITY,
) = range(18)
N_SLOT = 18


@njit(cache=True, nogil=True)
def _half_spread(price, p):
    if p[P_SPREAD_PCT] > 0:
        return price * p[P_SPREAD] / 200.0
    return p[P_SPREAD] / 2.0


@njit(cache=True, nogil=True)
def _slippage(price, p):
    if p[P_SLIP_PCT] > 0:
        return price * p[P_SLIP] / 100.0
    return p[P_SLIP]


@njit(cache=True, nogil=True)
def _close_slot(slots, k, bar, raw, reason, p, ti, tf, n_trades):
    """Record slot k closed at ``raw`` (a market price before costs); return the cash change."""
    d = slots[k, S_DIR]
    size = slots[k, S_SIZE]
    hs = _half_spread(raw, p)
    sl = _slippage(raw, p)
    fill = raw - d * (hs + sl)
    comm = p[P_COMM_PCT] / 100.0 * size * fill + p[P_COMM_FIXED]
    entry_fill = slots[k, S_FILL]
    fav = slots[k, S_FAV]
    adv = slots[k, S_ADV]
    if d > 0:
        fav = max(fav, raw)
        adv = min(adv, raw)
    else:
        fav = min(fav, raw)
        adv = max(adv, raw)
    gross = d * size * (raw - slots[k, S_RAW])
    spread_cost = size * (slots[k, S_HALF_SPREAD] + hs)
    slip_cost = size * (slots[k, S_SLIP] + sl)
    commission = slots[k, S_COMM] + comm
    ti[n_trades, I_ENTRY_BAR] = np.int64(slots[k, S_ENTRY_BAR])
    ti[n_trades, I_EXIT_BAR] = bar
    ti[n_trades, I_DIRECTION] = np.int64(d)
    ti[n_trades, I_REASON] = reason
    tf[n_trades, F_ENTRY_PRICE] = entry_fill
    tf[n_trades, F_EXIT_PRICE] = fill
    tf[n_trades, F_SIZE] = size
    tf[n_trades, F_GROSS_PNL] = gross
    tf[n_trades, F_COMMISSION] = commission
    tf[n_trades, F_SPREAD_COST] = spread_cost
    tf[n_trades, F_SLIPPAGE_COST] = slip_cost
    tf[n_trades, F_PNL] = gross - commission - spread_cost - slip_cost
    tf[n_trades, F_RISK_PER_UNIT] = slots[k, S_RISK]
    tf[n_trades, F_MAE] = size * max(0.0, d * (entry_fill - adv))
    tf[n_trades, F_MFE] = size * max(0.0, d * (fav - entry_fill))
    tf[n_trades, F_STOP_PRICE] = slots[k, S_INIT_STOP]
    tf[n_trades, F_TARGET_PRICE] = slots[k, S_TARGET]
    tf[n_trades, F_ENTRY_EQUITY] = slots[k, S_EQUITY]
    return d * size * (fill - entry_fill) - comm


@njit(cache=True, nogil=True)
def _remove_slot(slots, k, count):
    for j in range(k, count - 1):
        slots[j, :] = slots[j + 1, :]
    return count - 1


@njit(cache=True, nogil=True)
def run_kernel(
    open_,
    high,
    low,
    close,
    long_entry,
    short_entry,
    long_exit,
    short_exit,
    session_end,
    atr,
    size_value,
    stop_level,
    target_level,
    p,
    ti,
    tf,
    equity,
):
    """Simulate; fill ``ti``/``tf`` (one row per trade, in exit order) and ``equity`` (per bar,
    marked to market at the close). ``stop_level``/``target_level`` are price levels per bar for
    the ``level`` unit (read on the signal bar). Returns (number of trades, entries skipped)."""
    n = close.shape[0]
    pyramiding = int(p[P_PYRAMIDING])
    slots = np.zeros((pyramiding, N_SLOT))
    count = 0
    n_trades = 0
    skipped = 0
    cash = p[P_CAPITAL]
    max_bars = int(p[P_MAX_BARS])
    stop_unit = int(p[P_STOP_UNIT])
    tp_unit = int(p[P_TP_UNIT])
    trail_unit = int(p[P_TRAIL_UNIT])
    basis = int(p[P_SIZE_BASIS])
    target_first = p[P_TARGET_FIRST] > 0
    opposite = p[P_OPPOSITE] > 0
    close_session = p[P_CLOSE_SESSION] > 0
    be_r = p[P_BE_R]
    max_per_session = int(p[P_MAX_PER_SESSION])
    session_entries = 0
    inf = np.inf
    pend_exit_all = False
    pend_entry = 0
    for t in range(n):
        o = open_[t]
        # ---- the open: pending exits, then the pending entry --------------------------------------
        if count > 0 and (pend_exit_all or max_bars > 0):
            k = 0
            while k < count:
                if pend_exit_all or slots[k, S_TIME_EXIT] > 0:
                    reason = R_SIGNAL if pend_exit_all else R_TIME
                    cash += _close_slot(slots, k, t, o, reason, p, ti, tf, n_trades)
                    n_trades += 1
                    count = _remove_slot(slots, k, count)
                else:
                    k += 1
        pend_exit_all = False
        if t > 0 and session_end[t - 1]:
            session_entries = 0
        if pend_entry != 0 and max_per_session > 0 and session_entries >= max_per_session:
            pend_entry = 0
            skipped += 1
        if pend_entry != 0:
            d = float(pend_entry)
            pend_entry = 0
            marked = cash
            for k in range(count):
                marked += slots[k, S_DIR] * slots[k, S_SIZE] * (o - slots[k, S_FILL])
            hs = _half_spread(o, p)
            sl = _slippage(o, p)
            fill = o + d * (hs + sl)
            a = atr[t - 1]
            # stop distance per unit
            risk = 0.0
            ok = marked > 0
            if stop_unit == UNIT_PERCENT:
                risk = fill * p[P_STOP_VAL] / 100.0
            elif stop_unit == UNIT_ATR:
                risk = p[P_STOP_VAL] * a
            elif stop_unit == UNIT_POINTS:
                risk = p[P_STOP_VAL]
            elif stop_unit == UNIT_LEVEL:
                # beyond the level by a buffer of P_STOP_VAL percent; a level on the wrong side
                # of the fill (or missing) gives no risk and no trade
                risk = d * (fill - stop_level[t - 1] * (1.0 - d * p[P_STOP_VAL] / 100.0))
            if stop_unit != UNIT_NONE and not (risk > 0):
                ok = False  # ATR still warming up
            stop = -d * inf
            if stop_unit != UNIT_NONE:
                stop = fill - d * risk
            target = d * inf
            if tp_unit == UNIT_PERCENT:
                target = fill * (1.0 + d * p[P_TP_VAL] / 100.0)
            elif tp_unit == UNIT_ATR:
                target = fill + d * p[P_TP_VAL] * a
            elif tp_unit == UNIT_POINTS:
                target = fill + d * p[P_TP_VAL]
            elif tp_unit == UNIT_R:
                target = fill + d * p[P_TP_VAL] * risk
            elif tp_unit == UNIT_LEVEL:
                target = target_level[t - 1]
                if not (d * (target - fill) > 0):
                    ok = False  # the level is not ahead of the fill
            if tp_unit == UNIT_ATR and not (a > 0):
                ok = False
            trail = 0.0
            if trail_unit == UNIT_ATR:
                trail = p[P_TRAIL_VAL] * a
                if not (a > 0):
                    ok = False
            elif trail_unit == UNIT_POINTS:
                trail = p[P_TRAIL_VAL]
            elif trail_unit == UNIT_R:
                trail = p[P_TRAIL_VAL] * risk
            v = size_value[t - 1]
            size = 0.0
            if basis == BASIS_UNITS:
                size = v
            elif basis == BASIS_RISK_FRACTION:
                size = marked * v / risk if stop_unit != UNIT_NONE else marked / fill
            elif basis == BASIS_UNITS_PER_EQUITY:
                size = marked * v
            else:
                size = marked * v / fill
            if ok and size > 0 and size < inf and v > 0:
                comm = p[P_COMM_PCT] / 100.0 * size * fill + p[P_COMM_FIXED]
                cash -= comm
                slots[count, S_DIR] = d
                slots[count, S_ENTRY_BAR] = t
                slots[count, S_FILL] = fill
                slots[count, S_RAW] = o
                slots[count, S_SIZE] = size
                slots[count, S_BASE_STOP] = stop
                slots[count, S_INIT_STOP] = stop if stop_unit != UNIT_NONE else np.nan
                slots[count, S_TARGET] = target
                slots[count, S_TRAIL_DIST] = trail
                slots[count, S_RISK] = risk if stop_unit != UNIT_NONE else np.nan
                slots[count, S_FAV] = o
                slots[count, S_ADV] = o
                slots[count, S_COMM] = comm
                slots[count, S_HALF_SPREAD] = hs
                slots[count, S_SLIP] = sl
                slots[count, S_BE_DONE] = 0.0
                slots[count, S_TIME_EXIT] = 0.0
                slots[count, S_EQUITY] = marked
                count += 1
                session_entries += 1
            else:
                skipped += 1
        # ---- inside the bar: stops and targets, against this bar's high and low -------------------
        h = high[t]
        lo = low[t]
        k = 0
        while k < count:
            d = slots[k, S_DIR]
            base = slots[k, S_BASE_STOP]
            level = base
            trailing_binds = False
            if trail_unit != UNIT_NONE:
                fav = slots[k, S_FAV]
                if trail_unit == UNIT_PERCENT:
                    trail_level = fav * (1.0 - d * p[P_TRAIL_VAL] / 100.0)
                else:
                    trail_level = fav - d * slots[k, S_TRAIL_DIST]
                if d * (trail_level - base) > 0:
                    level = trail_level
                    trailing_binds = True
            target = slots[k, S_TARGET]
            if d > 0:
                stop_gap = o <= level
                target_gap = o >= target
                stop_hit = lo <= level
                target_hit = h >= target
            else:
                stop_gap = o >= level
                target_gap = o <= target
                stop_hit = h >= level
                target_hit = lo <= target
            stop_reason = R_TRAILING if trailing_binds else R_STOP
            exit_raw = 0.0
            reason = -1
            if stop_gap:
                exit_raw, reason = o, stop_reason
            elif target_gap:
                exit_raw, reason = o, R_TARGET
            elif stop_hit and target_hit:
                if target_first:
                    exit_raw, reason = target, R_TARGET
                else:
                    exit_raw, reason = level, stop_reason
            elif stop_hit:
                exit_raw, reason = level, stop_reason
            elif target_hit:
                exit_raw, reason = target, R_TARGET
            if reason >= 0:
                cash += _close_slot(slots, k, t, exit_raw, reason, p, ti, tf, n_trades)
                n_trades += 1
                count = _remove_slot(slots, k, count)
                continue
            # survived the bar: its extremes count from the next bar on (trailing, break-even)
            if d > 0:
                slots[k, S_FAV] = max(slots[k, S_FAV], h)
                slots[k, S_ADV] = min(slots[k, S_ADV], lo)
            else:
                slots[k, S_FAV] = min(slots[k, S_FAV], lo)
                slots[k, S_ADV] = max(slots[k, S_ADV], h)
            if be_r > 0 and slots[k, S_BE_DONE] == 0.0:
                fill = slots[k, S_FILL]
                if d * (slots[k, S_FAV] - fill) >= be_r * slots[k, S_RISK]:
                    slots[k, S_BE_DONE] = 1.0
                    if d * (fill - slots[k, S_BASE_STOP]) > 0:
                        slots[k, S_BASE_STOP] = fill
            k += 1
        # ---- the close: session end and end of data ----------------------------------------------
        c = close[t]
        last = t == n - 1
        if count > 0 and (last or (close_session and session_end[t])):
            reason = R_END_OF_DATA if last else R_SESSION_END
            while count > 0:
                cash += _close_slot(slots, 0, t, c, reason, p, ti, tf, n_trades)
                n_trades += 1
                count = _remove_slot(slots, 0, count)
        marked = cash
        for k in range(count):
            marked += slots[k, S_DIR] * slots[k, S_SIZE] * (c - slots[k, S_FILL])
        equity[t] = marked
        if last:
            break
        # ---- signals on this close: orders for the next open -------------------------------------
        go_long = long_entry[t]
        go_short = short_entry[t]
        if go_long and go_short:
            go_long = False  # conflicting signals: neither is taken
            go_short = False
        position = 0.0
        remaining = count
        exiting = False
        if count > 0:
            position = slots[0, S_DIR]
            if position > 0:
                pend_exit_all = long_exit[t] or (opposite and go_short)
            else:
                pend_exit_all = short_exit[t] or (opposite and go_long)
            if pend_exit_all:
                remaining = 0
                exiting = True
            elif max_bars > 0:
                for k in range(count):
                    if t + 1 - slots[k, S_ENTRY_BAR] >= max_bars:
                        slots[k, S_TIME_EXIT] = 1.0
                        remaining -= 1
                        exiting = True
        want = 1 if go_long else (-1 if go_short else 0)
        if want != 0:
            if remaining == 0:
                if not (exiting and want == position):
                    pend_entry = want
            elif want == position and remaining < pyramiding:
                pend_entry = want
    return n_trades, skipped
