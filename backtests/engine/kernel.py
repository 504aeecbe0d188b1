"""The compiled simulation loop (Numba, cached on disk so a fresh worker does not recompile).

One pass over the bars in machine code: a few nanoseconds per bar, so the run's cost is
dominated by the number of trades and the modules, never by Python work per bar. The rules
it implements are in docs/engine.md ("Semantics"); simulate.py prepares its inputs.

``run_kernel(bars, events, p, ti, tf, equity)`` walks bar t in the order a trader sees it:

1. the open: the exits ordered on the last close fill, then the entry ordered there
   (``_open_slot``: the fill, ``_stop_distance``, ``_target``, ``_trail_distance``, ``_size``);
2. inside the bar: each slot's stop, trailing included (``_stop``), and target against the bar
   (``_exit_hit``); a slot that survives widens its extremes (``_track_extremes``) and may
   reach break-even (``_break_even``), both for the bars after this one;
3. the close: session end and end of data close every slot, then equity is marked (``_marked``);
4. the signals on the close become the orders for the next open, exits first (``_exit_signal``,
   ``_mark_time_exits``, ``_entry_order``).

Every exit goes through ``_close_slot``, which writes the trade record. The loops over the slots
stay in the walks; the helpers decide. ``run_kernel`` takes one of two walks: ``_walk_slots``, every
feature, and ``_walk_single``, the same steps for one position at a time with only its stop, target
and the signals to exit on (``single_position``), holding that position in local variables.
``bars`` and ``events`` are tuples of the caller's per-bar arrays (no copy); simulate.py always
passes 10 read-only C-contiguous float64 arrays, 5 read-only bool arrays and a float64 ``p``, so
there is one compiled signature and the on-disk cache always has it.

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
bars       8    B_FIN_LONG         fraction   financing a long pays at this bar's close, of its notional (- earns)
bars       9    B_FIN_SHORT        fraction   financing a short pays at this bar's close, of its notional (- earns)
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
p          21   P_TICK             price      fills round to it, against the trader (buys up, sells down); 0: off
p          22   P_LOT              units      sizes round down to a multiple of it; 0: off
p          23   P_MIN_QTY          units      a smaller size skips the entry (counted below_min); 0: off
p          24   P_LEVERAGE         times      most notional (all open slots) per unit of equity at a fill; 0: no cap
p          25   P_MAINT            fraction   maintenance margin of the notional: equity at or below it liquidates
p          26   P_COMM_PER_UNIT    money      commission per unit per fill (per lot / contract size)
p          27   P_COMM_MIN         money      least commission of a fill; 0: none
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
slots      18   S_FINANCING        money      financing paid so far (swap, borrow, funding; - earned)
slots      19   S_REQUESTED        units      the size the sizing module asked for, before the cap and lot step
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
tf         7    F_PNL              money      F_GROSS_PNL - F_COMMISSION - F_SPREAD_COST - F_SLIPPAGE_COST - F_FINANCING
tf         8    F_RISK_PER_UNIT    price      1 R (NaN without a stop)
tf         9    F_MAE              money      maximum adverse excursion from the entry fill, >= 0
tf         10   F_MFE              money      maximum favourable excursion from the entry fill, >= 0
tf         11   F_STOP_PRICE       price      initial stop (NaN without)
tf         12   F_TARGET_PRICE     price      initial target (+-inf without)
tf         13   F_ENTRY_EQUITY     money      S_EQUITY
tf         14   F_FINANCING        money      S_FINANCING at the exit (already out of cash bar by bar)
tf         15   F_REQUESTED_SIZE   units      S_REQUESTED
equity     t                       money      at bar t's close: ``cash`` plus the open slots marked to market
(loop)          cash               money      initial cash + closed trades' pnl - open entries' commissions, financing
(loop)          count              slots      open entries: rows 0 .. count - 1 of ``slots``
(loop)          n_trades           trades     rows of ``ti``/``tf`` written
(loop)          skipped            entries    entries ordered but not taken (levels, size, warm-up, cap, equity)
(loop)          below_min          entries    entries skipped because the lot-rounded size was under P_MIN_QTY
(loop)          capped             entries    entries whose size P_LEVERAGE cut
(loop)          wiped              bar        the bar the account's equity reached 0 (-1: never); no trading after it
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
B_OPEN, B_HIGH, B_LOW, B_CLOSE, B_ATR, B_SIZE, B_STOP_LEVEL, B_TARGET_LEVEL, B_FIN_LONG, B_FIN_SHORT = range(10)
N_BARS_ARRAYS = 10
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
    P_TICK,
    P_LOT,
    P_MIN_QTY,
    P_LEVERAGE,
    P_MAINT,
    P_COMM_PER_UNIT,
    P_COMM_MIN,
) = range(28)
N_PARAMS = 28

UNIT_NONE, UNIT_PERCENT, UNIT_ATR, UNIT_POINTS, UNIT_R, UNIT_LEVEL = range(6)
UNIT_CODES = {"percent": UNIT_PERCENT, "atr": UNIT_ATR, "points": UNIT_POINTS, "r": UNIT_R, "level": UNIT_LEVEL}
BASIS_UNITS, BASIS_RISK_FRACTION, BASIS_UNITS_PER_EQUITY, BASIS_EQUITY_FRACTION = range(4)

EXIT_REASONS = ("stop", "target", "trailing", "signal", "time", "session_end", "end_of_data", "liquidation")
R_STOP, R_TARGET, R_TRAILING, R_SIGNAL, R_TIME, R_SESSION_END, R_END_OF_DATA, R_LIQUIDATION = range(8)
# what _open_slot did with an order
TAKEN, TAKEN_CAPPED, SKIPPED, BELOW_MIN = range(4)
# how _exit_hit decided: a level at the open, one level inside the bar (or none), both inside
HIT_GAP, HIT_INSIDE, HIT_BOTH = range(3)
# run_kernel's counters (its second result)
C_SKIPPED, C_BELOW_MIN, C_CAPPED, C_LIQUIDATIONS, C_WIPED_BAR, C_MAGNIFIED, C_UNRESOLVED = range(7)
N_COUNTERS = 7

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
    F_FINANCING,
    F_REQUESTED_SIZE,
) = range(16)
N_FLOAT = 16

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
    S_FINANCING,
    S_REQUESTED,
) = range(20)
N_SLOT = 20


# A call between compiled functions reference-counts each array argument (an atomic increment
# and decrement). LLVM inlines most small helpers, and the counting goes with the call; the two big
# ones, run once per entry and once per exit, Numba inlines itself, so the split costs no speed.
# So does it the two that run on every bar with a position (``_marked``, ``_liquidation_price``):
# LLVM left them calls, whose counting cost more than the bar's own work.
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
def _round_fill(price: float, side: float, tick: float) -> float:
    """``price`` on the tick grid (P_TICK; 0: unchanged), against the trader: a buy (``side``
    +1.0) rounds up, a sell (-1.0) down. The 1e-9 tick of tolerance keeps a price already on the
    grid where it is despite float error."""
    if tick <= 0:
        return price
    steps = price / tick
    if side > 0:
        return np.ceil(steps - 1e-9) * tick
    return np.floor(steps + 1e-9) * tick


@njit(cache=True, nogil=True)
def _commission(size: float, fill: float, p: np.ndarray) -> float:
    """The commission of one fill (money): P_COMM_PCT % of its value + P_COMM_FIXED +
    P_COMM_PER_UNIT per unit, at least P_COMM_MIN."""
    comm = p[P_COMM_PCT] / 100.0 * size * fill + p[P_COMM_FIXED] + p[P_COMM_PER_UNIT] * size
    return max(comm, p[P_COMM_MIN])


@njit(cache=True, nogil=True, inline=INLINE)
def _liquidation_price(slots: np.ndarray, count: int, cash: float, maint: float) -> float:
    """The market price (price) at which the open slots' equity falls to the maintenance margin
    ``maint`` (P_MAINT) of their notional. All slots share one direction d; with S units in all
    and F = sum of size x fill: a long's equity cash + S P - F meets maint S P at
    P = (F - cash) / (S (1 - maint)), a short's cash - S P + F at P = (cash + F) / (S (1 + maint)).
    A long whose price is <= 0 is never liquidated (prices are positive)."""
    d = slots[0, S_DIR]
    units = 0.0
    cost = 0.0
    for k in range(count):
        units += slots[k, S_SIZE]
        cost += slots[k, S_SIZE] * slots[k, S_FILL]
    if d > 0:
        return (cost - cash) / (units * (1.0 - maint))
    return (cash + cost) / (units * (1.0 + maint))


@njit(cache=True, nogil=True, inline=INLINE)
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
def _open_slot(
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
) -> tuple[float, int]:
    """Open slot ``count`` at bar t's open ``o`` (price), direction ``d`` (+1.0 long, -1.0 short).
    ``atr``, ``value`` (the sizing module's output), ``stop_level`` and ``target_level`` are the
    signal bar's (B_*). Returns the cash (money) after the entry's commission, and what happened
    (TAKEN, TAKEN_CAPPED: P_LEVERAGE cut the size, SKIPPED, BELOW_MIN: the lot-rounded size was
    under P_MIN_QTY; if not taken, nothing changed)."""
    marked = _marked(slots, count, o, cash)
    hs = _half_spread(o, p)
    sl = _slippage(o, p)
    fill = o + d * (hs + sl)
    if p[P_TICK] > 0:
        fill = _round_fill(fill, d, p[P_TICK])
        sl = d * (fill - o) - hs  # slippage and the tick rounding: what the fill pays beyond half the spread
    stop_unit = int(p[P_STOP_UNIT])
    risk, stop_ok = _stop_distance(d, fill, atr, stop_level, stop_unit, p[P_STOP_VAL])
    target, target_ok = _target(d, fill, atr, risk, target_level, int(p[P_TP_UNIT]), p[P_TP_VAL])
    trail, trail_ok = _trail_distance(atr, risk, int(p[P_TRAIL_UNIT]), p[P_TRAIL_VAL])
    requested = _size(value, marked, risk, fill, p)
    if not (stop_ok and target_ok and trail_ok and marked > 0 and requested > 0 and requested < np.inf and value > 0):
        return cash, SKIPPED
    size = requested
    status = TAKEN
    if p[P_LEVERAGE] > 0:
        room = p[P_LEVERAGE] * marked
        for k in range(count):
            room -= slots[k, S_SIZE] * o
        if size * fill > room:
            size = room / fill
            status = TAKEN_CAPPED
            if size <= 0:
                return cash, SKIPPED
    if p[P_LOT] > 0:
        size = np.floor(size / p[P_LOT] + 1e-9) * p[P_LOT]
    if size <= 0 or size < p[P_MIN_QTY]:
        return cash, BELOW_MIN
    comm = _commission(size, fill, p)
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
    slots[count, S_FINANCING] = 0.0
    slots[count, S_REQUESTED] = requested
    return cash - comm, status


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
    """``_open_slot`` answering only whether the entry was taken (the portfolio kernel's use)."""
    cash, status = _open_slot(slots, count, t, d, cash, o, atr, value, stop_level, target_level, p)
    return cash, status <= TAKEN_CAPPED


# ---- stops ---------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _stop(slots: np.ndarray, k: int, trail_unit: int, trail_val: float) -> tuple[float, bool]:
    """Slot k's stop for the current bar (price) and whether the trailing stop set it, the tighter
    of the two (``trail_unit``/``trail_val``: P_TRAIL_UNIT/P_TRAIL_VAL). The trailing level
    follows S_FAV, the extreme of the bars before this one: within a bar the order of high and
    low is unknown, so the bar cannot move its own stop (the magnifier's finer bars can:
    ``_magnified_exit``)."""
    return _stop_from(slots, k, slots[k, S_FAV], trail_unit, trail_val)


@njit(cache=True, nogil=True)
def _stop_from(slots: np.ndarray, k: int, fav: float, trail_unit: int, trail_val: float) -> tuple[float, bool]:
    """``_stop`` with the trailing level following the favourable price ``fav``."""
    d = slots[k, S_DIR]
    base = slots[k, S_BASE_STOP]
    if trail_unit == UNIT_NONE:
        return base, False
    if trail_unit == UNIT_PERCENT:
        trail_level = fav * (1.0 - d * trail_val / 100.0)
    else:
        trail_level = fav - d * slots[k, S_TRAIL_DIST]
    if d * (trail_level - base) > 0:
        return trail_level, True
    return base, False


@njit(cache=True, nogil=True)
def _track_extremes(slots: np.ndarray, k: int, high: float, low: float) -> None:
    """Slot k survived a bar (prices ``high``, ``low``): they count for MAE/MFE and, from the
    next bar on, for the trailing stop and break-even."""
    slots[k, S_FAV], slots[k, S_ADV] = _widened(slots[k, S_DIR], slots[k, S_FAV], slots[k, S_ADV], high, low)


@njit(cache=True, nogil=True)
def _widened(d: float, fav: float, adv: float, high: float, low: float) -> tuple[float, float]:
    """The most favourable and most adverse prices (``fav``, ``adv``) of a position in direction
    ``d`` once it survived a bar of ``high`` and ``low``."""
    if d > 0:
        return max(fav, high), min(adv, low)
    return min(fav, low), max(adv, high)


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
    if p[P_TICK] > 0:
        fill = _round_fill(fill, -d, p[P_TICK])
        sl = d * (raw - fill) - hs
    comm = _commission(size, fill, p)
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
    financing = slots[k, S_FINANCING]
    tf[n_trades, F_PNL] = gross - commission - spread_cost - slip_cost - financing
    tf[n_trades, F_RISK_PER_UNIT] = slots[k, S_RISK]
    tf[n_trades, F_MAE] = size * max(0.0, d * (entry_fill - adv))
    tf[n_trades, F_MFE] = size * max(0.0, d * (fav - entry_fill))
    tf[n_trades, F_STOP_PRICE] = slots[k, S_INIT_STOP]
    tf[n_trades, F_TARGET_PRICE] = slots[k, S_TARGET]
    tf[n_trades, F_ENTRY_EQUITY] = slots[k, S_EQUITY]
    tf[n_trades, F_FINANCING] = financing
    tf[n_trades, F_REQUESTED_SIZE] = slots[k, S_REQUESTED]
    cash += d * size * (fill - entry_fill) - comm
    for j in range(k, count - 1):
        slots[j, :] = slots[j + 1, :]
    return cash, count - 1, n_trades + 1


@njit(cache=True, nogil=True)
def _exit_hit(
    slots: np.ndarray, k: int, o: float, h: float, lo: float, trail_unit: int, trail_val: float, target_first: bool
) -> tuple[float, int, int]:
    """Where slot k exits inside the bar (open ``o``, high ``h``, low ``lo``) and why (R_*), or
    reason -1 if it does not, and how it was decided (HIT_*: at the open, inside the bar, or
    both levels inside the bar); ``trail_unit``/``trail_val`` are P_TRAIL_UNIT/P_TRAIL_VAL."""
    level, trailing = _stop(slots, k, trail_unit, trail_val)
    return _levels_hit(slots[k, S_DIR], level, trailing, slots[k, S_TARGET], o, h, lo, target_first)


@njit(cache=True, nogil=True)
def _levels_hit(
    d: float, level: float, trailing: bool, target: float, o: float, h: float, lo: float, target_first: bool
) -> tuple[float, int, int]:
    """``_exit_hit`` of a position in direction ``d`` whose stop is ``level`` (set by the trailing
    stop if ``trailing``) and whose target is ``target``. The open is the bar's first price, so a
    gap beyond a level decides before ``target_first`` (P_TARGET_FIRST), which only settles both
    levels inside the bar, where the path is unknown."""
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
        return o, stop_reason, HIT_GAP
    if target_gap:
        return o, R_TARGET, HIT_GAP
    if stop_hit and target_hit:
        if target_first:
            return target, R_TARGET, HIT_BOTH
        return level, stop_reason, HIT_BOTH
    if stop_hit:
        return level, stop_reason, HIT_INSIDE
    if target_hit:
        return target, R_TARGET, HIT_INSIDE
    return 0.0, -1, HIT_INSIDE


@njit(cache=True, nogil=True)
def _exit_price(
    slots: np.ndarray, k: int, o: float, h: float, lo: float, trail_unit: int, trail_val: float, target_first: bool
) -> tuple[float, int]:
    """``_exit_hit`` without how it was decided (the portfolio kernel's use)."""
    raw, reason, _ = _exit_hit(slots, k, o, h, lo, trail_unit, trail_val, target_first)
    return raw, reason


@njit(cache=True, nogil=True)
def _magnified_exit(
    slots: np.ndarray,
    k: int,
    sub_open: np.ndarray,
    sub_high: np.ndarray,
    sub_low: np.ndarray,
    start: int,
    end: int,
    trail_unit: int,
    trail_val: float,
    target_first: bool,
) -> tuple[float, int, bool]:
    """The bar magnifier: ``_exit_hit`` walked over the bar's finer bars ``start`` .. ``end`` - 1
    in time order, so the first level touched fills, and a trailing stop follows each finer bar's
    favourable extreme. Returns (price, R_* or -1 if no finer bar exits, whether a finer bar
    still held both levels and ``target_first`` settled it)."""
    d = slots[k, S_DIR]
    target = slots[k, S_TARGET]
    fav = slots[k, S_FAV]
    for j in range(start, end):
        level, trailing = _stop_from(slots, k, fav, trail_unit, trail_val)
        so, sh, sl = sub_open[j], sub_high[j], sub_low[j]
        stop_reason = R_TRAILING if trailing else R_STOP
        if d * (so - level) <= 0:
            return so, stop_reason, False
        if d * (so - target) >= 0:
            return so, R_TARGET, False
        stop_hit = sl <= level if d > 0 else sh >= level
        target_hit = sh >= target if d > 0 else sl <= target
        if stop_hit and target_hit:
            if target_first:
                return target, R_TARGET, True
            return level, stop_reason, True
        if stop_hit:
            return level, stop_reason, False
        if target_hit:
            return target, R_TARGET, False
        fav = max(fav, sh) if d > 0 else min(fav, sl)
    return 0.0, -1, False


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


@njit(cache=True, nogil=True, inline=INLINE)
def _close_all(
    slots: np.ndarray,
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
    """Close every open slot on ``bar`` at ``raw`` with ``reason``; returns (cash, 0, n_trades)."""
    while count > 0:
        cash, count, n_trades = _close_slot(slots, 0, count, bar, raw, reason, cash, p, ti, tf, n_trades)
    return cash, count, n_trades


@njit(cache=True, nogil=True)
def run_kernel(
    bars: tuple[np.ndarray, ...],
    events: tuple[np.ndarray, ...],
    sub: tuple[np.ndarray, ...],
    sub_times: np.ndarray,
    bar_edges: np.ndarray,
    p: np.ndarray,
    ti: np.ndarray,
    tf: np.ndarray,
    equity: np.ndarray,
    counters: np.ndarray,
    financing: bool,
) -> int:
    """Simulate. ``bars`` (B_*, float64) and ``events`` (E_*, bool) are tuples of per-bar
    arrays, ``p`` the parameters (P_*). ``sub`` holds the magnifier's finer bars (open, high, low;
    empty without it) and ``sub_times`` their times (int64 ns, increasing); bar t's are those timed
    in ``bar_edges[t]`` .. ``bar_edges[t + 1]`` (int64 ns, n + 1, the end exclusive), found by a
    binary search only for a bar the magnifier walks.
    Fills ``ti``/``tf`` (one row per trade, in exit order; as many rows as entry signals
    suffice), ``equity`` (money, per bar, marked to market at the close, 0 from a wipe-out on)
    and ``counters`` (int64, C_*). Returns the number of trades. ``financing``: whether B_FIN_LONG
    and B_FIN_SHORT hold charges (False: they are zeros, and the single walk does not read them).

    A strategy with one position at a time and only the exits decided at the open or by the bar's
    own prices (``single_position``), without financing or finer bars, walks ``_walk_single``,
    which keeps the position in local variables (about twice as fast per bar); any other walks
    ``_walk_slots``. The two give the same trades, equity and counters to the bit
    (test_engine_kernel.py runs both over random bars for every case the single walk takes)."""
    counters[:] = 0
    counters[C_WIPED_BAR] = -1
    if not financing and sub[0].shape[0] == 0 and single_position(p):
        return _walk_single(bars, events, p, ti, tf, equity, counters)
    return _walk_slots(bars, events, sub, sub_times, bar_edges, p, ti, tf, equity, counters)


@njit(cache=True, nogil=True)
def single_position(p: np.ndarray) -> bool:
    """Whether the parameters ``p`` ask for one position at a time with no exit that needs more
    than its stop, target and the signals: no pyramiding, trailing stop, break-even, time exit or
    session rule (financing and the magnifier are the caller's to rule out)."""
    return (
        p[P_PYRAMIDING] == 1
        and int(p[P_TRAIL_UNIT]) == UNIT_NONE
        and p[P_BE_R] == 0
        and p[P_MAX_BARS] == 0
        and p[P_CLOSE_SESSION] == 0
        and p[P_MAX_PER_SESSION] == 0
    )


@njit(cache=True, nogil=True)
def _walk_single(
    bars: tuple[np.ndarray, ...],
    events: tuple[np.ndarray, ...],
    p: np.ndarray,
    ti: np.ndarray,
    tf: np.ndarray,
    equity: np.ndarray,
    counters: np.ndarray,
) -> int:
    """``_walk_slots`` for ``single_position`` parameters without financing or the magnifier: the
    same steps in the same order with one slot, whose direction, size, fill, stop, target,
    extremes and liquidation price are local variables while it is open (row 0 of ``slots`` is
    written by ``_open_slot`` and read back, and its extremes written back before ``_close_slot``).
    What the general walk does per bar for features this strategy has not is left out, the
    liquidation price is computed once per entry (without financing the cash and the slot only
    change on an entry or an exit), and a bar that reaches no level is told in four comparisons."""
    open_, high, low, close = bars[B_OPEN], bars[B_HIGH], bars[B_LOW], bars[B_CLOSE]
    atr, size_value = bars[B_ATR], bars[B_SIZE]
    stop_level, target_level = bars[B_STOP_LEVEL], bars[B_TARGET_LEVEL]
    long_entry, short_entry = events[E_LONG_ENTRY], events[E_SHORT_ENTRY]
    long_exit, short_exit = events[E_LONG_EXIT], events[E_SHORT_EXIT]
    n = close.shape[0]
    slots = np.zeros((1, N_SLOT))
    target_first = p[P_TARGET_FIRST] > 0
    opposite = p[P_OPPOSITE] > 0
    maint = p[P_MAINT]
    cash = p[P_CAPITAL]
    held = False  # the slot is open
    d = 0.0
    size = 0.0
    fill = 0.0
    stop = 0.0
    target = 0.0
    fav = 0.0
    adv = 0.0
    level = 0.0
    guard = 0.0
    n_trades = 0
    exit_all = False
    entry = 0
    for t in range(n):
        o = open_[t]
        # ---- the open: the exit ordered on the last close, then the entry -----------------------
        if held and exit_all:
            slots[0, S_FAV], slots[0, S_ADV] = fav, adv
            cash, _, n_trades = _close_slot(slots, 0, 1, t, o, R_SIGNAL, cash, p, ti, tf, n_trades)
            held = False
        if entry != 0:
            signal = t - 1
            cash, status = _open_slot(
                slots,
                0,
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
            if status <= TAKEN_CAPPED:
                held = True
                d, size, fill = slots[0, S_DIR], slots[0, S_SIZE], slots[0, S_FILL]
                stop, target = slots[0, S_BASE_STOP], slots[0, S_TARGET]
                fav, adv = slots[0, S_FAV], slots[0, S_ADV]
                level = _liquidation_price(slots, 1, cash, maint)
                guard = max(level, stop) if d > 0 else min(level, stop)
                if status == TAKEN_CAPPED:
                    counters[C_CAPPED] += 1
            elif status == BELOW_MIN:
                counters[C_BELOW_MIN] += 1
            else:
                counters[C_SKIPPED] += 1
        # ---- inside the bar: liquidation, the stop and the target against its high and low -------
        if held:
            h = high[t]
            lo = low[t]
            raw = 0.0
            reason = -1
            # strictly between the guard (the nearer of the liquidation price and the stop) and the
            # target, at the open and at both extremes, the bar fills nothing: every test below fails
            # for it, decided here in four comparisons (a NaN guard fails them, and the tests decide)
            if d > 0:
                inside = o > guard and lo > guard and o < target and h < target
            else:
                inside = o < guard and h < guard and o > target and lo > target
            if inside:
                pass
            elif d * (o - level) <= 0:  # opened beyond the liquidation price: out at the open
                raw, reason = o, R_LIQUIDATION
            elif d * ((lo if d > 0 else h) - level) <= 0:
                # the path down to the liquidation price passes a stop set before it: it fills first
                if d * (stop - level) > 0:
                    raw, reason = (o if d * (o - stop) <= 0 else stop), R_STOP
                else:
                    raw, reason = level, R_LIQUIDATION
            else:
                raw, reason, _ = _levels_hit(d, stop, False, target, o, h, lo, target_first)
            if reason >= 0:
                slots[0, S_FAV], slots[0, S_ADV] = fav, adv
                cash, _, n_trades = _close_slot(slots, 0, 1, t, raw, reason, cash, p, ti, tf, n_trades)
                held = False
                if reason == R_LIQUIDATION:
                    counters[C_LIQUIDATIONS] += 1
            else:
                fav, adv = _widened(d, fav, adv, h, lo)
        # ---- the close: end of data, then equity ---------------------------------------------------
        c = close[t]
        last = t == n - 1
        if held and last:
            slots[0, S_FAV], slots[0, S_ADV] = fav, adv
            cash, _, n_trades = _close_slot(slots, 0, 1, t, c, R_END_OF_DATA, cash, p, ti, tf, n_trades)
            held = False
        if not held and cash <= 0:
            counters[C_WIPED_BAR] = t
            equity[t:] = 0.0
            break
        equity[t] = cash + d * size * (c - fill) if held else cash
        if last:
            break
        # ---- the signals on this close: orders for the next open, the exit first ----------------
        exit_all = False
        entry = 0
        if held and not opposite and not (long_exit[t] if d > 0 else short_exit[t]):
            continue  # no exit ordered, and the one slot is taken: no entry either (the entries unread)
        go_long = long_entry[t]
        go_short = short_entry[t]
        if go_long and go_short:
            go_long = False
            go_short = False
        position = d if held else 0.0
        exit_all = held and _exit_signal(position, long_exit[t], short_exit[t], go_long, go_short, opposite)
        entry = _entry_order(go_long, go_short, position, 0 if exit_all or not held else 1, 1)
    return n_trades


@njit(cache=True, nogil=True)
def _walk_slots(
    bars: tuple[np.ndarray, ...],
    events: tuple[np.ndarray, ...],
    sub: tuple[np.ndarray, ...],
    sub_times: np.ndarray,
    bar_edges: np.ndarray,
    p: np.ndarray,
    ti: np.ndarray,
    tf: np.ndarray,
    equity: np.ndarray,
    counters: np.ndarray,
) -> int:
    """``run_kernel`` for every strategy: any number of slots, every feature."""
    # unpacked and decoded once: the helpers in the loop get plain values, since every array passed
    # to a call is reference-counted each time, which would cost more than the bar's own work
    open_, high, low, close = bars[B_OPEN], bars[B_HIGH], bars[B_LOW], bars[B_CLOSE]
    atr, size_value = bars[B_ATR], bars[B_SIZE]
    stop_level, target_level = bars[B_STOP_LEVEL], bars[B_TARGET_LEVEL]
    fin_long, fin_short = bars[B_FIN_LONG], bars[B_FIN_SHORT]
    long_entry, short_entry = events[E_LONG_ENTRY], events[E_SHORT_ENTRY]
    long_exit, short_exit = events[E_LONG_EXIT], events[E_SHORT_EXIT]
    session_end = events[E_SESSION_END]
    sub_open, sub_high, sub_low = sub
    magnify = sub_open.shape[0] > 0
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
    maint = p[P_MAINT]
    cash = p[P_CAPITAL]
    count = 0
    n_trades = 0
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
            status = SKIPPED
            if max_per_session <= 0 or session_entries < max_per_session:  # P_MAX_PER_SESSION 0: no cap
                signal = t - 1
                cash, status = _open_slot(
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
            if status <= TAKEN_CAPPED:  # TAKEN or TAKEN_CAPPED
                count += 1
                session_entries += 1
                if status == TAKEN_CAPPED:
                    counters[C_CAPPED] += 1
            elif status == BELOW_MIN:
                counters[C_BELOW_MIN] += 1
            else:
                counters[C_SKIPPED] += 1
        # ---- inside the bar: liquidation, stops and targets against its high and low -------------
        h = high[t]
        lo = low[t]
        liquidate = False
        d = 0.0
        level = 0.0
        if count > 0:
            d = slots[0, S_DIR]
            level = _liquidation_price(slots, count, cash, maint)
            if d * (o - level) <= 0:  # opened beyond it: out at the open, the worse price
                cash, count, n_trades = _close_all(slots, count, t, o, R_LIQUIDATION, cash, p, ti, tf, n_trades)
                counters[C_LIQUIDATIONS] += 1
            elif d * ((lo if d > 0 else h) - level) <= 0:
                liquidate = True
        if liquidate:
            # the path down to the liquidation price passes the stops set before it: they fill first
            adverse = lo if d > 0 else h
            k = 0
            while k < count:
                stop, trailing = _stop(slots, k, trail_unit, trail_val)
                if d * (stop - level) > 0:
                    reason = R_TRAILING if trailing else R_STOP
                    raw = o if d * (o - stop) <= 0 else stop
                    cash, count, n_trades = _close_slot(slots, k, count, t, raw, reason, cash, p, ti, tf, n_trades)
                else:
                    k += 1
            if count > 0:
                level = _liquidation_price(slots, count, cash, maint)
                if d * (adverse - level) <= 0:
                    cash, count, n_trades = _close_all(slots, count, t, level, R_LIQUIDATION, cash, p, ti, tf, n_trades)
                    counters[C_LIQUIDATIONS] += 1
            for k in range(count):
                _track_extremes(slots, k, h, lo)
        else:
            start = -1  # this bar's finer bars, looked up by the first slot that needs them
            end = -1
            k = 0
            while k < count:
                raw, reason, hit = _exit_hit(slots, k, o, h, lo, trail_unit, trail_val, target_first)
                if magnify and hit != HIT_GAP and (hit == HIT_BOTH or trail_unit != UNIT_NONE):
                    if start < 0:
                        start = np.searchsorted(sub_times, bar_edges[t])
                        end = np.searchsorted(sub_times, bar_edges[t + 1])
                    if end > start:
                        fine, fine_reason, tie = _magnified_exit(
                            slots, k, sub_open, sub_high, sub_low, start, end, trail_unit, trail_val, target_first
                        )
                        if fine_reason >= 0:
                            raw, reason = fine, fine_reason
                        if hit == HIT_BOTH:
                            counters[C_UNRESOLVED if tie or fine_reason < 0 else C_MAGNIFIED] += 1
                    elif hit == HIT_BOTH:
                        counters[C_UNRESOLVED] += 1
                if reason >= 0:
                    cash, count, n_trades = _close_slot(slots, k, count, t, raw, reason, cash, p, ti, tf, n_trades)
                else:
                    _track_extremes(slots, k, h, lo)
                    _break_even(slots, k, be_r)
                    k += 1
        # ---- the close: session end and end of data, financing, then equity ----------------------
        c = close[t]
        last = t == n - 1
        if count > 0 and (last or (close_session and session_end[t])):
            reason = R_END_OF_DATA if last else R_SESSION_END
            cash, count, n_trades = _close_all(slots, count, t, c, reason, cash, p, ti, tf, n_trades)
        if count > 0 and (fin_long[t] != 0 or fin_short[t] != 0):
            rate = fin_long[t] if slots[0, S_DIR] > 0 else fin_short[t]
            for k in range(count):
                charge = slots[k, S_SIZE] * c * rate
                slots[k, S_FINANCING] += charge
                cash -= charge
            d = slots[0, S_DIR]
            if d * (c - _liquidation_price(slots, count, cash, maint)) <= 0:  # the charge took it to the margin
                cash, count, n_trades = _close_all(slots, count, t, c, R_LIQUIDATION, cash, p, ti, tf, n_trades)
                counters[C_LIQUIDATIONS] += 1
        if count == 0 and cash <= 0:
            # wiped out: the account stops at 0 (the loss beyond it is the broker's) and trades no more
            counters[C_WIPED_BAR] = t
            equity[t:] = 0.0
            break
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
    return n_trades
