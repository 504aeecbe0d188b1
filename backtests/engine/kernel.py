"""The compiled simulation loop (Numba, cached on disk so a fresh worker does not recompile).

One pass over the bars in machine code: a few nanoseconds per bar, so the run's cost is
dominated by the number of trades and the modules, never by Python work per bar. The rules
it implements are in docs/engine.md ("Semantics"); simulate.py prepares its inputs.

``run_kernel(bars, events, p, ti, tf, equity)`` walks bar t in the order a trader sees it:

1. the open: the exits ordered on the last close fill, then the entry ordered there
   (``_enter``: the fill, ``_stop_distance``, ``_target``, ``_trail_distance``, ``_size``);
2. inside the bar: each slot's stop, trailing included (``_stop``), and target against the bar
   (``_exit_price``); a slot that survives widens its extremes (``_track_extremes``) and may
   reach break-even (``_break_even``), both for the bars after this one;
3. the close: session end and end of data close every slot, then equity is marked (``_marked``);
4. the signals on the close become the orders for the next open, exits first (``_exit_signal``,
   ``_mark_time_exits``, ``_entry_order``).

Every exit goes through ``_close_slot``, which writes the trade record. The loops over the slots
stay in ``run_kernel``; the helpers decide. ``bars`` and ``events`` are tuples of the caller's
per-bar arrays (no copy); simulate.py always passes 8 read-only C-contiguous float64 arrays, 5
read-only bool arrays and a float64 ``p``, so there is one compiled signature and the on-disk
cache always has it.

State layout: every array the loop reads or writes, and its loop variables. Shapes: ``bars`` and
``events`` hold (n,) arrays, one value per bar; ``p`` (N_PARAMS,) float64; ``slots``
(P_PYRAMIDING, N_SLOT) float64, one row per open entry in entry order; ``ti`` (capacity, N_INT)
int64 and ``tf`` (capacity, N_FLOAT) float64, one row per trade in exit order (simulate.py sorts
them by entry); ``equity`` (n,) float64. Units: *price* the data's prices, *units* of the
instrument, *money* the account currency, *bar* a position in the data, *R* the trade's stop
distance.

=========  ===  =================  =========  =====================================================================
array      #    name               unit       meaning
=========  ===  =================  =========  =====================================================================
bars       0    B_OPEN             price      open: entries, gaps through a level, exits ordered on the last close
bars       1    B_HIGH             price      high: reaches a long's target, a short's stop
bars       2    B_LOW              price      low: reaches a long's stop, a short's target
bars       3    B_CLOSE            price      close: session-end and end-of-data exits, equity marking
bars       4    B_ATR              price      ATR, read on the signal bar for ``atr`` units (NaN while warming up)
bars       5    B_SIZE             basis      the sizing module's output on the signal bar (see P_SIZE_BASIS)
bars       6    B_STOP_LEVEL       price      the stop's level for unit ``level``, read on the signal bar
bars       7    B_TARGET_LEVEL     price      the target's level for unit ``level``, read on the signal bar
events     0    E_LONG_ENTRY       bool       a long entry signal on this close (an order for the next open)
events     1    E_SHORT_ENTRY      bool       a short entry signal on this close
events     2    E_LONG_EXIT        bool       close longs at the next open
events     3    E_SHORT_EXIT       bool       close shorts at the next open
events     4    E_SESSION_END      bool       the session's last bar (never the data's last bar)
p          0    P_STOP_VAL         by unit    stop: % of the fill, ATR multiple, price, or % buffer beyond the level
p          1    P_STOP_UNIT        code       UNIT_* (UNIT_NONE: no stop)
p          2    P_TP_VAL           by unit    target: % of the fill, ATR multiple, price or R (unit ``level``: unused)
p          3    P_TP_UNIT          code       UNIT_* (UNIT_NONE: no target)
p          4    P_TRAIL_VAL        by unit    trailing stop: % of the favourable price, ATR multiple, price or R
p          5    P_TRAIL_UNIT       code       UNIT_* (UNIT_NONE: no trailing stop)
p          6    P_BE_R             R          stop to the fill once the favourable excursion reaches it; 0: off
p          7    P_MAX_BARS         bars       exit at the open of bar entry + P_MAX_BARS; 0: off
p          8    P_OPPOSITE         0/1        an entry signal of the other side closes the position
p          9    P_TARGET_FIRST     0/1        stop and target inside one bar: 1 fills the target, 0 the stop
p          10   P_COMM_PCT         %          commission per fill, of the fill's value
p          11   P_COMM_FIXED       money      commission per fill
p          12   P_SPREAD           price, %   the whole spread; half of it is paid on each fill
p          13   P_SPREAD_PCT       0/1        P_SPREAD is % of the market price
p          14   P_SLIP             price, %   slippage per fill
p          15   P_SLIP_PCT         0/1        P_SLIP is % of the market price
p          16   P_PYRAMIDING       entries    most entries open at once, all one direction (rows of ``slots``)
p          17   P_CAPITAL          money      initial cash
p          18   P_SIZE_BASIS       code       BASIS_*: B_SIZE is units, a risk fraction, units per money or an
                                              equity fraction
p          19   P_CLOSE_SESSION    0/1        close every slot at the close of each session's last bar
p          20   P_MAX_PER_SESSION  entries    most entries per session; 0: no cap
slots      0    S_DIR              +1/-1      long/short
slots      1    S_ENTRY_BAR        bar        the entry bar
slots      2    S_FILL             price      entry fill (after spread and slippage)
slots      3    S_RAW              price      entry bar's open: the market price before costs
slots      4    S_SIZE             units      position size
slots      5    S_BASE_STOP        price      stop before trailing: the initial one, or the fill after break-even;
                                              -inf (long) / +inf (short) without a stop
slots      6    S_INIT_STOP        price      initial stop, for the record (NaN without)
slots      7    S_TARGET           price      +inf (long) / -inf (short) without a target
slots      8    S_TRAIL_DIST       price      trailing distance for units atr, points, r (``percent``: from S_FAV)
slots      9    S_RISK             price      1 R: the stop's distance from the fill, per unit (NaN without a stop)
slots      10   S_FAV              price      most favourable price of the bars survived (the entry's open at first)
slots      11   S_ADV              price      most adverse price of the bars survived (the entry's open at first)
slots      12   S_COMM             money      commission paid on the entry
slots      13   S_HALF_SPREAD      price      half spread paid on the entry, per unit
slots      14   S_SLIP             price      slippage paid on the entry, per unit
slots      15   S_BE_DONE          0/1        break-even was reached (it moves the stop once)
slots      16   S_TIME_EXIT        0/1        exits at the next open (P_MAX_BARS reached)
slots      17   S_EQUITY           money      equity marked to market at the fill (what sizing used)
ti         0    I_ENTRY_BAR        bar        the entry bar
ti         1    I_EXIT_BAR         bar        the exit bar (the entry bar for an exit inside it)
ti         2    I_DIRECTION        +1/-1      long/short
ti         3    I_REASON           code       R_*, an index into EXIT_REASONS
tf         0    F_ENTRY_PRICE      price      entry fill (after spread and slippage)
tf         1    F_EXIT_PRICE       price      exit fill (after spread and slippage)
tf         2    F_SIZE             units      position size
tf         3    F_GROSS_PNL        money      at market prices, before every cost
tf         4    F_COMMISSION       money      both fills
tf         5    F_SPREAD_COST      money      both fills
tf         6    F_SLIPPAGE_COST    money      both fills
tf         7    F_PNL              money      F_GROSS_PNL - F_COMMISSION - F_SPREAD_COST - F_SLIPPAGE_COST
tf         8    F_RISK_PER_UNIT    price      1 R (NaN without a stop)
tf         9    F_MAE              money      maximum adverse excursion from the entry fill, >= 0
tf         10   F_MFE              money      maximum favourable excursion from the entry fill, >= 0
tf         11   F_STOP_PRICE       price      initial stop (NaN without)
tf         12   F_TARGET_PRICE     price      initial target (+-inf without)
tf         13   F_ENTRY_EQUITY     money      S_EQUITY
equity     t                       money      at bar t's close: ``cash`` plus the open slots marked to market
(loop)          cash               money      initial cash + closed trades' pnl - open entries' commissions
(loop)          count              slots      open entries: rows 0 .. count - 1 of ``slots``
(loop)          n_trades           trades     rows of ``ti``/``tf`` written
(loop)          skipped            entries    entries ordered but not taken (levels, size, warm-up, cap, equity)
(loop)          session_entries    entries    entries taken in the current session
(loop)          entry              -1/0/+1    the entry ordered for the next open
(loop)          exit_all           bool       every slot exits at the next open (exit or opposite signal)
=========  ===  =================  =========  =====================================================================
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numba import njit

# ---- per-bar inputs ------------------------------------------------------------------------------
B_OPEN, B_HIGH, B_LOW, B_CLOSE, B_ATR, B_SIZE, B_STOP_LEVEL, B_TARGET_LEVEL = range(8)
N_BARS_ARRAYS = 8
E_LONG_ENTRY, E_SHORT_ENTRY, E_LONG_EXIT, E_SHORT_EXIT, E_SESSION_END = range(5)
N_EVENTS_ARRAYS = 5

# ---- parameter vector ----------------------------------------------------------------------------
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

# ---- trade record --------------------------------------------------------------------------------
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

# ---- open-trade slots ----------------------------------------------------------------------------
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


# A call between compiled functions reference-counts each array argument (an atomic increment
# and decrement). LLVM inlines the small helpers, and the counting goes with the call; the two big
# ones, run once per entry and once per exit, Numba inlines itself, so the split costs no speed.
INLINE: Final = "always"


# ---- costs ---------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _half_spread(price: float, p: np.ndarray) -> float:
    """Half the spread at market ``price`` (price units): what one fill pays."""
    if p[P_SPREAD_PCT] > 0:
        return price * p[P_SPREAD] / 200.0
    return p[P_SPREAD] / 2.0


@njit(cache=True, nogil=True)
def _slippage(price: float, p: np.ndarray) -> float:
    """The slippage of one fill at market ``price`` (price units)."""
    if p[P_SLIP_PCT] > 0:
        return price * p[P_SLIP] / 100.0
    return p[P_SLIP]


@njit(cache=True, nogil=True)
def _marked(slots: np.ndarray, count: int, price: float, cash: float) -> float:
    """Equity (money): ``cash`` plus the open slots marked to market at ``price``."""
    equity = cash
    for k in range(count):
        equity += slots[k, S_DIR] * slots[k, S_SIZE] * (price - slots[k, S_FILL])
    return equity


# ---- entry ---------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _stop_distance(d: float, fill: float, atr: float, stop_level: float, unit: int, value: float) -> tuple[float, bool]:
    """1 R of an entry in direction ``d`` (+1.0/-1.0) filled at ``fill``: the stop's distance from
    the fill (price per unit, 0.0 without a stop), and whether the entry may be taken (a stop
    needs a positive distance). ``atr`` and ``stop_level`` are the signal bar's; ``unit`` and
    ``value`` are P_STOP_UNIT and P_STOP_VAL."""
    risk = 0.0
    if unit == UNIT_PERCENT:
        risk = fill * value / 100.0
    elif unit == UNIT_ATR:
        risk = value * atr
    elif unit == UNIT_POINTS:
        risk = value
    elif unit == UNIT_LEVEL:
        # beyond the level by a buffer of P_STOP_VAL percent; a level on the wrong side of the
        # fill (or missing) gives no risk and no trade
        risk = d * (fill - stop_level * (1.0 - d * value / 100.0))
    return risk, unit == UNIT_NONE or risk > 0  # not risk > 0: NaN while ATR warms up


@njit(cache=True, nogil=True)
def _target(
    d: float, fill: float, atr: float, risk: float, target_level: float, unit: int, value: float
) -> tuple[float, bool]:
    """The target price of an entry in direction ``d`` filled at ``fill`` (+-inf without one), and
    whether the entry may be taken: an ATR target needs ATR, a level target must lie ahead of the
    fill. ``risk`` is 1 R (price per unit); ``atr`` and ``target_level`` are the signal bar's;
    ``unit`` and ``value`` are P_TP_UNIT and P_TP_VAL."""
    if unit == UNIT_PERCENT:
        return fill * (1.0 + d * value / 100.0), True
    if unit == UNIT_ATR:
        return fill + d * value * atr, atr > 0
    if unit == UNIT_POINTS:
        return fill + d * value, True
    if unit == UNIT_R:
        return fill + d * value * risk, True
    if unit == UNIT_LEVEL:
        return target_level, d * (target_level - fill) > 0
    return d * np.inf, True


@njit(cache=True, nogil=True)
def _trail_distance(atr: float, risk: float, unit: int, value: float) -> tuple[float, bool]:
    """The trailing stop's distance from the favourable price (price per unit; 0.0 for unit
    ``percent``, which ``_stop`` takes from that price, or without a trailing stop), and whether
    the entry may be taken (an ATR distance needs ATR). ``risk`` is 1 R; ``unit`` and ``value``
    are P_TRAIL_UNIT and P_TRAIL_VAL."""
    if unit == UNIT_ATR:
        return value * atr, atr > 0
    if unit == UNIT_POINTS:
        return value, True
    if unit == UNIT_R:
        return value * risk, True
    return 0.0, True


@njit(cache=True, nogil=True)
def _size(value: float, marked: float, risk: float, fill: float, p: np.ndarray) -> float:
    """Units to trade. ``value`` is the sizing module's output, read per P_SIZE_BASIS; ``marked``
    is the equity (money) at the fill, ``risk`` 1 R (price per unit), ``fill`` the entry fill.
    NaN, infinite or not positive means no trade (the caller checks)."""
    basis = int(p[P_SIZE_BASIS])
    if basis == BASIS_UNITS:
        return value
    if basis == BASIS_RISK_FRACTION:
        # without a stop there is no risk to size from: the whole equity, as all-in
        return marked * value / risk if int(p[P_STOP_UNIT]) != UNIT_NONE else marked / fill
    if basis == BASIS_UNITS_PER_EQUITY:
        return marked * value
    return marked * value / fill


@njit(cache=True, nogil=True, inline=INLINE)
def _enter(
    slots: np.ndarray,
    count: int,
    t: int,
    d: float,
    cash: float,
    o: float,
    atr: float,
    value: float,
    stop_level: float,
    target_level: float,
    p: np.ndarray,
) -> tuple[float, bool]:
    """Open slot ``count`` at bar t's open ``o`` (price), direction ``d`` (+1.0 long, -1.0 short).
    ``atr``, ``value`` (the sizing module's output), ``stop_level`` and ``target_level`` are the
    signal bar's (B_*). Returns the cash (money) after the entry's commission, and whether the
    entry was taken (if not, nothing changed)."""
    marked = _marked(slots, count, o, cash)
    hs = _half_spread(o, p)
    sl = _slippage(o, p)
    fill = o + d * (hs + sl)
    stop_unit = int(p[P_STOP_UNIT])
    risk, stop_ok = _stop_distance(d, fill, atr, stop_level, stop_unit, p[P_STOP_VAL])
    target, target_ok = _target(d, fill, atr, risk, target_level, int(p[P_TP_UNIT]), p[P_TP_VAL])
    trail, trail_ok = _trail_distance(atr, risk, int(p[P_TRAIL_UNIT]), p[P_TRAIL_VAL])
    size = _size(value, marked, risk, fill, p)
    if not (stop_ok and target_ok and trail_ok and marked > 0 and size > 0 and size < np.inf and value > 0):
        return cash, False
    comm = p[P_COMM_PCT] / 100.0 * size * fill + p[P_COMM_FIXED]
    has_stop = stop_unit != UNIT_NONE
    stop = fill - d * risk if has_stop else -d * np.inf
    slots[count, S_DIR] = d
    slots[count, S_ENTRY_BAR] = t
    slots[count, S_FILL] = fill
    slots[count, S_RAW] = o
    slots[count, S_SIZE] = size
    slots[count, S_BASE_STOP] = stop
    slots[count, S_INIT_STOP] = stop if has_stop else np.nan
    slots[count, S_TARGET] = target
    slots[count, S_TRAIL_DIST] = trail
    slots[count, S_RISK] = risk if has_stop else np.nan
    slots[count, S_FAV] = o
    slots[count, S_ADV] = o
    slots[count, S_COMM] = comm
    slots[count, S_HALF_SPREAD] = hs
    slots[count, S_SLIP] = sl
    slots[count, S_BE_DONE] = 0.0
    slots[count, S_TIME_EXIT] = 0.0
    slots[count, S_EQUITY] = marked
    return cash - comm, True


# ---- stops ---------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _stop(slots: np.ndarray, k: int, trail_unit: int, trail_val: float) -> tuple[float, bool]:
    """Slot k's stop for the current bar (price) and whether the trailing stop set it, the tighter
    of the two (``trail_unit``/``trail_val``: P_TRAIL_UNIT/P_TRAIL_VAL). The trailing level
    follows S_FAV, the extreme of the bars before this one: within a bar the order of high and
    low is unknown, so the bar cannot move its own stop."""
    d = slots[k, S_DIR]
    base = slots[k, S_BASE_STOP]
    if trail_unit == UNIT_NONE:
        return base, False
    if trail_unit == UNIT_PERCENT:
        trail_level = slots[k, S_FAV] * (1.0 - d * trail_val / 100.0)
    else:
        trail_level = slots[k, S_FAV] - d * slots[k, S_TRAIL_DIST]
    if d * (trail_level - base) > 0:
        return trail_level, True
    return base, False


@njit(cache=True, nogil=True)
def _track_extremes(slots: np.ndarray, k: int, high: float, low: float) -> None:
    """Slot k survived a bar (prices ``high``, ``low``): they count for MAE/MFE and, from the
    next bar on, for the trailing stop and break-even."""
    if slots[k, S_DIR] > 0:
        slots[k, S_FAV] = max(slots[k, S_FAV], high)
        slots[k, S_ADV] = min(slots[k, S_ADV], low)
    else:
        slots[k, S_FAV] = min(slots[k, S_FAV], low)
        slots[k, S_ADV] = max(slots[k, S_ADV], high)


@njit(cache=True, nogil=True)
def _break_even(slots: np.ndarray, k: int, be_r: float) -> None:
    """Once slot k's favourable excursion reaches ``be_r`` (P_BE_R; 0: off) times 1 R, its base
    stop moves to the entry fill, if that tightens it; checked after each bar it survives."""
    if be_r > 0 and slots[k, S_BE_DONE] == 0.0:
        d = slots[k, S_DIR]
        fill = slots[k, S_FILL]
        if d * (slots[k, S_FAV] - fill) >= be_r * slots[k, S_RISK]:
            slots[k, S_BE_DONE] = 1.0
            if d * (fill - slots[k, S_BASE_STOP]) > 0:
                slots[k, S_BASE_STOP] = fill


# ---- exits ---------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline=INLINE)
def _close_slot(
    slots: np.ndarray,
    k: int,
    count: int,
    bar: int,
    raw: float,
    reason: int,
    cash: float,
    p: np.ndarray,
    ti: np.ndarray,
    tf: np.ndarray,
    n_trades: int,
) -> tuple[float, int, int]:
    """Close slot k on ``bar`` at ``raw`` (the market price before costs) with ``reason`` (R_*):
    write trade row ``n_trades``, credit the exit fill's proceeds net of its commission (money)
    to ``cash``, and move the later slots up so the rest stay in entry order. Returns (cash,
    count, n_trades) after it."""
    d = slots[k, S_DIR]
    size = slots[k, S_SIZE]
    hs = _half_spread(raw, p)
    sl = _slippage(raw, p)
    fill = raw - d * (hs + sl)
    comm = p[P_COMM_PCT] / 100.0 * size * fill + p[P_COMM_FIXED]
    entry_fill = slots[k, S_FILL]
    # the exit bar counts up to the fill only: what the market did after it is not the trade's
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
    cash += d * size * (fill - entry_fill) - comm
    for j in range(k, count - 1):
        slots[j, :] = slots[j + 1, :]
    return cash, count - 1, n_trades + 1


@njit(cache=True, nogil=True)
def _exit_price(
    slots: np.ndarray, k: int, o: float, h: float, lo: float, trail_unit: int, trail_val: float, target_first: bool
) -> tuple[float, int]:
    """Where slot k exits inside the bar (open ``o``, high ``h``, low ``lo``) and why (R_*), or
    reason -1 if it does not; ``trail_unit``/``trail_val`` are P_TRAIL_UNIT/P_TRAIL_VAL. The open
    is the bar's first price, so a gap beyond a level decides before ``target_first``
    (P_TARGET_FIRST), which only settles both levels inside the bar, where the path is unknown."""
    d = slots[k, S_DIR]
    level, trailing = _stop(slots, k, trail_unit, trail_val)
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
    stop_reason = R_TRAILING if trailing else R_STOP
    if stop_gap:
        return o, stop_reason
    if target_gap:
        return o, R_TARGET
    if stop_hit and target_hit:
        if target_first:
            return target, R_TARGET
        return level, stop_reason
    if stop_hit:
        return level, stop_reason
    if target_hit:
        return target, R_TARGET
    return 0.0, -1


# ---- orders --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _exit_signal(
    position: float, long_exit: bool, short_exit: bool, go_long: bool, go_short: bool, opposite: bool
) -> bool:
    """Whether the position (+1.0 long, -1.0 short, 0.0 none) exits at the next open, from this
    close's exit signals and, with P_OPPOSITE, the other side's entry signal."""
    if position > 0:
        return long_exit or (opposite and go_short)
    if position < 0:
        return short_exit or (opposite and go_long)
    return False


@njit(cache=True, nogil=True)
def _mark_time_exits(slots: np.ndarray, count: int, t: int, max_bars: int) -> int:
    """Mark with S_TIME_EXIT the slots whose ``max_bars`` (P_MAX_BARS) end at bar t + 1's open;
    returns how many."""
    due = 0
    for k in range(count):
        if t + 1 - slots[k, S_ENTRY_BAR] >= max_bars:
            slots[k, S_TIME_EXIT] = 1.0
            due += 1
    return due


@njit(cache=True, nogil=True)
def _entry_order(go_long: bool, go_short: bool, position: float, remaining: int, pyramiding: int) -> int:
    """The entry ordered for the next open: +1 long, -1 short, 0 none. ``position`` is the open
    slots' direction (0.0 if none), ``remaining`` how many of them stay open after the exits
    ordered on this close, ``pyramiding`` P_PYRAMIDING."""
    want = 1 if go_long else (-1 if go_short else 0)
    if want == 0:
        return 0
    if remaining == 0:
        # flat at the next open: any side but the one just closed there (no instant re-entry)
        return 0 if want == position else want
    if want == position and remaining < pyramiding:
        return want
    return 0


# ---- the loop ------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def run_kernel(
    bars: tuple[np.ndarray, ...],
    events: tuple[np.ndarray, ...],
    p: np.ndarray,
    ti: np.ndarray,
    tf: np.ndarray,
    equity: np.ndarray,
) -> tuple[int, int]:
    """Simulate. ``bars`` (B_*, float64) and ``events`` (E_*, bool) are tuples of per-bar
    arrays, ``p`` the parameters (P_*). Fills ``ti``/``tf`` (one row per trade, in exit order;
    as many rows as entry signals suffice) and ``equity`` (money, per bar, marked to market at
    the close). Returns (number of trades, entries skipped)."""
    # unpacked and decoded once: the helpers in the loop get plain values, since every array passed
    # to a call is reference-counted each time, which would cost more than the bar's own work
    open_, high, low, close = bars[B_OPEN], bars[B_HIGH], bars[B_LOW], bars[B_CLOSE]
    atr, size_value = bars[B_ATR], bars[B_SIZE]
    stop_level, target_level = bars[B_STOP_LEVEL], bars[B_TARGET_LEVEL]
    long_entry, short_entry = events[E_LONG_ENTRY], events[E_SHORT_ENTRY]
    long_exit, short_exit = events[E_LONG_EXIT], events[E_SHORT_EXIT]
    session_end = events[E_SESSION_END]
    n = close.shape[0]
    pyramiding = int(p[P_PYRAMIDING])
    slots = np.zeros((pyramiding, N_SLOT))
    trail_unit = int(p[P_TRAIL_UNIT])
    trail_val = p[P_TRAIL_VAL]
    target_first = p[P_TARGET_FIRST] > 0
    be_r = p[P_BE_R]
    max_bars = int(p[P_MAX_BARS])
    opposite = p[P_OPPOSITE] > 0
    close_session = p[P_CLOSE_SESSION] > 0
    max_per_session = int(p[P_MAX_PER_SESSION])
    cash = p[P_CAPITAL]
    count = 0
    n_trades = 0
    skipped = 0
    session_entries = 0
    exit_all = False
    entry = 0
    for t in range(n):
        o = open_[t]
        # ---- the open: exits ordered on the last close, then the entry ---------------------------
        if count > 0 and (exit_all or max_bars > 0):  # S_TIME_EXIT is only ever set with P_MAX_BARS
            k = 0
            while k < count:
                if exit_all or slots[k, S_TIME_EXIT] > 0:
                    reason = R_SIGNAL if exit_all else R_TIME
                    cash, count, n_trades = _close_slot(slots, k, count, t, o, reason, cash, p, ti, tf, n_trades)
                else:
                    k += 1
        if t > 0 and session_end[t - 1]:
            session_entries = 0
        if entry != 0:
            taken = False
            if max_per_session <= 0 or session_entries < max_per_session:  # P_MAX_PER_SESSION 0: no cap
                signal = t - 1
                cash, taken = _enter(
                    slots,
                    count,
                    t,
                    float(entry),
                    cash,
                    o,
                    atr[signal],
                    size_value[signal],
                    stop_level[signal],
                    target_level[signal],
                    p,
                )
            if taken:
                count += 1
                session_entries += 1
            else:
                skipped += 1
        # ---- inside the bar: stops and targets against its high and low --------------------------
        h = high[t]
        lo = low[t]
        k = 0
        while k < count:
            raw, reason = _exit_price(slots, k, o, h, lo, trail_unit, trail_val, target_first)
            if reason >= 0:
                cash, count, n_trades = _close_slot(slots, k, count, t, raw, reason, cash, p, ti, tf, n_trades)
            else:
                _track_extremes(slots, k, h, lo)
                _break_even(slots, k, be_r)
                k += 1
        # ---- the close: session end and end of data, then equity ---------------------------------
        c = close[t]
        last = t == n - 1
        if count > 0 and (last or (close_session and session_end[t])):
            reason = R_END_OF_DATA if last else R_SESSION_END
            while count > 0:
                cash, count, n_trades = _close_slot(slots, 0, count, t, c, reason, cash, p, ti, tf, n_trades)
        equity[t] = _marked(slots, count, c, cash)
        if last:
            break
        # ---- the signals on this close: orders for the next open, exits first --------------------
        go_long = long_entry[t]
        go_short = short_entry[t]
        if go_long and go_short:
            go_long = False  # conflicting signals: neither is taken
            go_short = False
        position = slots[0, S_DIR] if count > 0 else 0.0
        # flat: nothing to exit, so the exit flags are not even read
        exit_all = count > 0 and _exit_signal(position, long_exit[t], short_exit[t], go_long, go_short, opposite)
        remaining = count
        if exit_all:
            remaining = 0
        elif count > 0 and max_bars > 0:
            remaining -= _mark_time_exits(slots, count, t, max_bars)
        entry = _entry_order(go_long, go_short, position, remaining, pyramiding)
    return n_trades, skipped
