"""``run_backtest``: data + strategy → trades, equity and metrics. Pure and deterministic."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from modules.registry import get_registry

from . import kernel as K
from . import metrics as metric_fns
from .account import account_outcome
from .conditions import Block, Condition, Operand, compute_operands, evaluate
from .errors import InsufficientData
from .financing import financing_rates
from .intrabar import finer_bars
from .simulate import Signals, SimulatedTrades, session_ends, simulate, sizing_inputs
from .strategy import DEFAULT_CAPITAL, ExitRules, Level, Sizing, StrategySpec
from .validate import FINER_COLUMNS, check_bars

ENGINE_VERSION = "0.5.0"  # 0.5: instruments, account, financing, magnifier; 0.4: benchmark figures
MIN_BARS = 2
ProgressFn = Callable[[str, int, int], None]
TRADE_COLUMNS = (
    "direction",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "size",
    "pnl",
    "pnl_pct",
    "exit_reason",
    "bars_held",
    "fees",
    "r_multiple",
    "gross_pnl",
    "commission",
    "spread_cost",
    "slippage_cost",
    "mae",
    "mfe",
    "mae_r",
    "mfe_r",
    "initial_stop",
    "initial_target",
    "risk",
    "entry_bar",
    "exit_bar",
    "financing",
    "requested_size",
)


@dataclass
class BacktestResult:
    trades: pd.DataFrame
    equity: pd.Series
    metrics: dict[str, Any]
    engine_version: str = ENGINE_VERSION
    data_checksum: str = ""
    bars: int = 0
    strategy_text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # for the run (ACCOUNT_WIPED_OUT, capped sizes, ...)


def data_checksum(data: pd.DataFrame) -> str:
    """sha256 over the UTC timestamps (ns) and the OHLCV values (float64). Remembered per series in
    memory (``_SERIES``): the same bars asked again are not hashed again."""
    sources = _series_sources(data)
    key = _series_key(sources)
    known = _SERIES.get(key, "checksum")
    if known is not None:
        return known
    digest = hashlib.sha256()
    times = _times(data)
    # hashed from the arrays' own memory (``.data``, a memoryview): no bytes copy of each column
    digest.update(np.ascontiguousarray(times.asi8 if times.unit == "ns" else times.as_unit("ns").asi8).data)
    for column in ("open", "high", "low", "close", "volume"):
        if column in data.columns:
            digest.update(np.ascontiguousarray(data[column].to_numpy(dtype=np.float64)).data)
    checksum = digest.hexdigest()
    _SERIES.put(key, data, sources, "checksum", checksum)
    return checksum


def remembered_checksum(data: pd.DataFrame) -> str | None:
    """``data_checksum(data)`` if it is remembered (no hashing), else None."""
    return _SERIES.get(_series_key(_series_sources(data)), "checksum")


def _series_sources(data: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """What ``data_checksum`` hashes and ``check_bars`` checks, in order, by name, as the frame holds
    it (views of its memory where pandas gives them): the times (int64 in the index's unit), then
    each OHLCV column the frame has. A source pandas converts on the way is a new array each time."""
    times = _times(data)
    sources = [(f"timestamp[{times.unit}]", times.asi8)]
    for column in ("open", "high", "low", "close", "volume"):
        if column in data.columns:
            sources.append((column, data[column].to_numpy()))
    return sources


def _series_key(sources: list[tuple[str, np.ndarray]]) -> tuple:
    """Where each array's values are in memory (address, size, strides, type), by name."""
    return tuple((name, a.__array_interface__["data"][0], a.nbytes, a.strides, a.dtype.str) for name, a in sources)


@dataclass
class _SeriesEntry:
    frame: pd.DataFrame  # a shallow copy: a reference pandas' copy-on-write counts
    sources: list[tuple[str, np.ndarray]]  # the key's arrays, so their memory stays theirs
    facts: dict[str, Any]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for _, a in self.sources)


class _SeriesMemo:
    """What the engine found out about the last series it was handed (``checksum``: the data
    checksum; ``valid``: the bars passed ``check_bars``), keyed on where their values are in memory.

    Why a key of addresses is sound: an entry holds the arrays of its key, so no other data can
    be allocated at those addresses while it lives, and a shallow copy of the frame, so under
    pandas' copy-on-write (pandas 3) every write through pandas to the frame or to any frame
    sharing its memory (``iloc``/``loc`` assignment, a column set in place, ``inplace=True``)
    copies that memory first instead of changing it: changed bars are at new addresses, a new
    key, and are hashed and checked again. An array converted on the way (a nullable column) is
    a new array each time and never matches. What this cannot see is a write that goes around
    pandas into the frame's NumPy memory (``np.asarray(series.array)[i] = x``, or into an array a
    frame was built on with ``copy=False``); such a write would change every frame sharing that
    memory, the data manager's cache included, and is not how the platform or its libraries
    change data.

    Bounded by the bytes of the remembered arrays (``max_bytes``; the newest entry is always
    kept): an entry keeps its series' memory alive, which the data manager's cache usually holds
    anyway. Thread-safe."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, _SeriesEntry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, fact: str) -> Any:
        """The ``fact`` remembered for the series at ``key``, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry.facts.get(fact)

    def put(self, key: tuple, data: pd.DataFrame, sources: list[tuple[str, np.ndarray]], fact: str, value) -> None:
        """Remember ``fact`` = ``value`` for ``data``, whose ``sources`` give ``key``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _SeriesEntry(data.copy(deep=False), sources, {})
            entry.facts[fact] = value
            self._entries.move_to_end(key)
            total = sum(e.nbytes for e in self._entries.values())
            while total > self.max_bytes and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                total -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_SERIES = _SeriesMemo(max_bytes=128 * 2**20)  # between two and three series of a million bars
_FINER = _SeriesMemo(max_bytes=192 * 2**20)  # the magnifier's finer bars: one series of four million


def _times(data: pd.DataFrame) -> pd.DatetimeIndex:
    """The bars' times. The engine's data is indexed by a UTC DatetimeIndex (the data contract of
    ``modules.base``); pandas types ``DataFrame.index`` as a plain Index."""
    return cast(pd.DatetimeIndex, data.index)


#: Data below this many bytes is hashed on the run's own thread, when its result is asked for.
#: A thread only pays where the hash is long and a core is free: on a saturated machine (two
#: workers on two cores) the two threads hand the GIL back and forth through the scheduler, and a
#: run on a year of 15-minute bars (27k bars, 1.3 MB, hashed in about 1 ms) took a median 48-60 ms
#: with the thread against 14-31 ms without (two such processes side by side, in turns).
BACKGROUND_CHECKSUM_BYTES = 8 * 2**20


def hashed_bytes(data: pd.DataFrame) -> int:
    """How many bytes ``data_checksum`` reads: the times and each OHLCV column, 8 bytes a bar each."""
    return 8 * len(data) * (1 + sum(column in data.columns for column in ("open", "high", "low", "close", "volume")))


class BackgroundChecksum(threading.Thread):
    """hashlib releases the GIL on large buffers: ``compute()`` (a hash of the run's data) runs
    in this thread while the modules compute; ``result()`` joins and returns it, re-raising its
    error in the caller's thread. With ``nbytes`` under ``BACKGROUND_CHECKSUM_BYTES`` no thread
    starts: ``result()`` computes it on the caller's thread."""

    def __init__(self, compute: Callable[[], str], nbytes: int | None = None):
        super().__init__(daemon=True)
        self.compute = compute
        self.value = ""
        self.error: BaseException | None = None
        self.inline = nbytes is not None and nbytes < BACKGROUND_CHECKSUM_BYTES

    def start(self) -> None:
        if not self.inline:
            super().start()

    def join(self, timeout: float | None = None) -> None:
        if not self.inline:
            super().join(timeout)

    def run(self) -> None:
        try:
            self.value = self.compute()
        except BaseException as exc:  # re-raised in the caller's thread
            self.error = exc

    def result(self) -> str:
        if self.inline:
            self.run()
        else:
            self.join()
        if self.error is not None:
            raise self.error
        return self.value


def run_backtest(
    data: pd.DataFrame,
    spec: StrategySpec,
    on_progress: ProgressFn | None = None,
    *,
    trade_from: pd.Timestamp | None = None,
    annualisation: metric_fns.Annualisation | None = None,
    intrabar: pd.DataFrame | None = None,
    operands: dict | None = None,
) -> BacktestResult:
    """Compute the modules, the signals, simulate and measure.

    ``on_progress(stage, done, total)`` is called with stages ``computing_modules`` (once per
    module), ``simulating`` (before and after the compiled loop, which takes milliseconds per
    million bars) and ``analysing``; it may raise to stop the run (cancellation).

    ``trade_from``: bars before it only warm the indicators up. No signal before it is taken,
    and the equity curve, the metrics and ``bars`` cover the bars from it on.

    ``annualisation``: bars and trading days a year of the market's calendar
    (``metrics.calendar_annualisation``, chosen by the caller, who knows the market); without
    it the ratios are annualised by the observed frequency.

    ``intrabar``: the bars of ``spec.exit.intrabar`` (a finer timeframe) over the same span, for
    the bar magnifier; without them the magnifier falls back to ``sameBarPolicy`` and says so.

    ``operands``: a dict kept by the caller across runs on this same ``data`` (a sweep): each
    module configuration is computed once (``conditions.compute_operands``); same results.
    """
    _check_data(data)
    if trade_from is not None and not (data.index >= trade_from).any():
        raise InsufficientData(f"no bars at or after {trade_from} to trade on")
    progress = on_progress or _no_progress
    known = remembered_checksum(data)  # bars hashed before (this run's data step, a run before)
    checksum = BackgroundChecksum(lambda: data_checksum(data), nbytes=hashed_bytes(data))
    if known is None:
        checksum.start()
    try:
        progress("computing_modules", 0, 1)
        signals = market_signals(
            data,
            spec,
            trade_from=trade_from,
            on_module=lambda done, total: progress("computing_modules", done, total),
            operands=operands,
        )
        result = _simulate_and_measure(
            data, spec, signals, progress, trade_from=trade_from, annualisation=annualisation, intrabar=intrabar
        )
    except BaseException:
        if known is None:
            checksum.join()  # no thread outlives a failed or cancelled run
        raise
    result.data_checksum = checksum.result() if known is None else known
    return result


def simulate_signals(
    data: pd.DataFrame,
    spec: StrategySpec,
    signals: Signals,
    on_progress: ProgressFn | None = None,
    *,
    annualisation: metric_fns.Annualisation | None = None,
) -> BacktestResult:
    """Like :func:`run_backtest`, with the entry/exit signals given instead of computed from
    the spec's blocks (which are then ignored). For tests and research."""
    _check_data(data)
    result = _simulate_and_measure(data, spec, signals, on_progress or _no_progress, annualisation=annualisation)
    result.data_checksum = data_checksum(data)
    return result


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


def _check_data(data: pd.DataFrame) -> None:
    """Refuse too few bars, and bad bars (``check_bars``; remembered per series, ``_SERIES``)."""
    if len(data) < MIN_BARS:
        raise InsufficientData(f"the data has {len(data)} bars; a backtest needs at least {MIN_BARS}")
    if not isinstance(data.index, pd.DatetimeIndex):
        check_bars(data)  # no series to remember (the engine's data is indexed by time)
        return
    _check_remembered(_SERIES, data, check_bars)


def _check_remembered(memo: _SeriesMemo, data: pd.DataFrame, check: Callable[[pd.DataFrame], None]) -> None:
    """``check(data)`` (which raises on bad bars) unless ``memo`` remembers that these bars passed it."""
    sources = _series_sources(data)
    key = _series_key(sources)
    if memo.get(key, "valid"):
        return
    check(data)
    memo.put(key, data, sources, "valid", True)


def _check_finer(finer: pd.DataFrame) -> None:
    """The bar magnifier's finer bars checked (``check_bars`` on ``FINER_COLUMNS``), remembered per
    series in ``_FINER`` as the run's bars are in ``_SERIES``: a worker's runs on finer bars it has
    seen skip the pass over their millions of prices."""
    if not isinstance(finer.index, pd.DatetimeIndex):
        check_bars(finer, FINER_COLUMNS)  # no series to remember
        return
    _check_remembered(_FINER, finer, lambda bars: check_bars(bars, FINER_COLUMNS))


def _simulate_and_measure(
    data: pd.DataFrame,
    spec: StrategySpec,
    signals: Signals,
    progress: ProgressFn,
    trade_from: pd.Timestamp | None = None,
    annualisation: metric_fns.Annualisation | None = None,
    intrabar: pd.DataFrame | None = None,
) -> BacktestResult:
    prices, inputs = market_inputs(data, spec)
    finer, finer_available = None, None
    if spec.exit.intrabar:
        finer_available = False
        if intrabar is not None and len(intrabar):
            _check_finer(intrabar)
            finer = finer_bars(_times(data), intrabar, checked=True)
            finer_available = finer.any_bar
    sim = simulate(spec, signals, *prices, on_progress=progress, intrabar=finer, **inputs)
    progress("analysing", 0, 1)
    trades = trade_frame(sim, _times(data))
    equity = pd.Series(sim.equity, index=data.index, name="equity", copy=False)  # sim's own array: no copy
    close = prices[3]
    measured = trades
    if trade_from is not None:  # the warm-up is not part of the measured period
        in_window = np.asarray(data.index >= trade_from)
        offset = int(np.argmax(in_window))
        equity, close = equity[in_window], close[in_window]
        measured = trades.assign(entry_bar=trades.entry_bar - offset, exit_bar=trades.exit_bar - offset)
    metrics = metric_fns.compute_all(measured, equity, spec.initial_capital, close=close, annualisation=annualisation)
    metrics["skipped_entries"] = sim.skipped_entries
    account_metrics, warnings = account_outcome(
        sim.counters,
        float(trades["financing"].sum()),
        spec.account,
        spec.instrument,
        _times(data),
        intrabar=spec.exit.intrabar,
        same_bar_policy=spec.exit.same_bar_policy,
        finer_available=finer_available,
    )
    metrics.update(account_metrics)
    progress("analysing", 1, 1)
    return BacktestResult(
        trades=trades,
        equity=equity,
        metrics=metrics,
        bars=len(equity),
        strategy_text=spec.describe(),
        warnings=warnings,
    )


def market_signals(
    data: pd.DataFrame,
    spec: StrategySpec,
    *,
    trade_from: pd.Timestamp | None = None,
    on_module: Callable[[int, int], None] | None = None,
    operands: dict | None = None,
) -> Signals:
    """The spec's entry and exit signals on one market's bars (its modules computed, ``on_module``
    called after each; ``operands``: see :func:`run_backtest`); entries before ``trade_from``
    (the warm-up) are dropped."""
    columns = compute_operands(data, spec.all_blocks(), on_module=on_module, cache=operands)
    signals = _signals(spec, columns, len(data))
    if trade_from is not None:
        warming = np.asarray(data.index < trade_from)
        signals = Signals(
            signals.long_entry & ~warming, signals.short_entry & ~warming, signals.long_exit, signals.short_exit
        )
    return signals


def market_inputs(data: pd.DataFrame, spec: StrategySpec) -> tuple[list[np.ndarray], dict[str, Any]]:
    """One market's prices (open, high, low, close as float64) and the other per-bar inputs of
    :func:`~.simulate.simulate` as its keyword arguments (ATR, sizing, sessions, levels, financing)."""
    atr = None
    if spec.exit.uses_atr():
        atr_cls = get_registry().get_module("atr")
        atr = atr_cls().calculate(data, {"period": spec.exit.atr_period}).iloc[:, 0].to_numpy(dtype=np.float64)
    basis, size_value = sizing_inputs(spec, data)
    sessions = (
        session_ends(_times(data), spec.exit.session_end, spec.exit.session_timezone)
        if spec.exit.close_at_session_end or spec.exit.max_trades_per_session
        else None
    )
    prices = [data[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")]
    inputs: dict[str, Any] = {"atr": atr, "size_basis": basis, "size_value": size_value, "session_end": sessions}
    if spec.account.financing:
        inputs["financing"] = financing_rates(_times(data), spec.instrument)
    for name, level in (("stop_level", spec.exit.stop_loss), ("target_level", spec.exit.take_profit)):
        if level is not None and level.unit == "level":
            inputs[name] = _operand_values(data, level.source)
    return prices, inputs


def _operand_values(data: pd.DataFrame, operand) -> np.ndarray:
    """A price column, or one output of a module, as float64 per bar."""
    if operand.column:
        return data[operand.column].to_numpy(dtype=np.float64)
    cls = get_registry().get_module(operand.module_id)
    output = operand.output or cls.primary_output().name
    arrays = cls().calculate_arrays(data, operand.config, outputs=(output,))
    return np.asarray(arrays[cls.column_name(operand.config, output)], dtype=np.float64)


def _signals(spec: StrategySpec, columns: dict[str, np.ndarray], n: int) -> Signals:
    none = np.zeros(n, dtype=np.bool_)
    entry = evaluate(spec.entry_blocks, columns, n)
    exits = evaluate(spec.exit_blocks, columns, n) if spec.exit_blocks else none
    if spec.direction == "Long":
        return Signals(entry, none, exits, none)
    if spec.direction == "Short":
        return Signals(none, entry, none, exits)
    short_exits = evaluate(spec.short_exit_blocks, columns, n) if spec.short_exit_blocks else none
    return Signals(entry, evaluate(spec.short_entry_blocks, columns, n), exits, short_exits)


def trade_frame(sim: SimulatedTrades, index: pd.DatetimeIndex) -> pd.DataFrame:
    """The trade list. Money in account currency, prices are fills (after spread and slippage),
    ``pnl`` is net of every cost, ``fees`` = commission + spread_cost + slippage_cost, ``pnl`` =
    ``gross_pnl`` - ``fees`` - ``financing``."""
    col = sim.column
    size = col(K.F_SIZE)
    entry_price = col(K.F_ENTRY_PRICE)
    pnl = col(K.F_PNL)
    risk = size * col(K.F_RISK_PER_UNIT)  # money lost at the initial stop, before costs; NaN without a stop
    commission, spread_cost, slippage_cost = col(K.F_COMMISSION), col(K.F_SPREAD_COST), col(K.F_SLIPPAGE_COST)
    with np.errstate(divide="ignore", invalid="ignore"):
        pnl_pct = pnl / (size * entry_price) * 100.0
        r_multiple, mae_r, mfe_r = pnl / risk, col(K.F_MAE) / risk, col(K.F_MFE) / risk
    reasons = np.asarray(K.EXIT_REASONS, dtype=object)
    return pd.DataFrame(
        {
            "direction": np.where(sim.direction > 0, "long", "short").astype(object),
            "entry_time": index[sim.entry_bar],
            "entry_price": entry_price,
            "exit_time": index[sim.exit_bar],
            "exit_price": col(K.F_EXIT_PRICE),
            "size": size,
            "pnl": pnl,
            "pnl_pct": pnl_pct,
            "exit_reason": reasons[sim.reason],
            "bars_held": sim.exit_bar - sim.entry_bar,
            "fees": commission + spread_cost + slippage_cost,
            "r_multiple": r_multiple,
            "gross_pnl": col(K.F_GROSS_PNL),
            "commission": commission,
            "spread_cost": spread_cost,
            "slippage_cost": slippage_cost,
            "mae": col(K.F_MAE),
            "mfe": col(K.F_MFE),
            "mae_r": mae_r,
            "mfe_r": mfe_r,
            "initial_stop": col(K.F_STOP_PRICE),
            "initial_target": np.where(np.isfinite(col(K.F_TARGET_PRICE)), col(K.F_TARGET_PRICE), np.nan),
            "risk": risk,
            "entry_bar": sim.entry_bar,
            "exit_bar": sim.exit_bar,
            "financing": col(K.F_FINANCING),
            "requested_size": col(K.F_REQUESTED_SIZE),
        },
        columns=list(TRADE_COLUMNS),
    )


def _warm_frame(n: int = 300) -> pd.DataFrame:
    """A small hourly OHLCV frame that takes every branch the warm-ups need."""
    steps = np.sin(np.arange(n) / 7.0)
    close = 100.0 + np.cumsum(steps)
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": np.concatenate(([100.0], close[:-1])),
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": np.full(n, 1000.0),
        },
        index=index,
    )


def _warm_spec() -> StrategySpec:
    registry = get_registry()

    def module(module_id: str, **config: Any) -> Operand:
        return Operand(module_id=module_id, config=registry.get_module(module_id).validate_config(config))

    entry = Block(
        conditions=(
            Condition(left=module("rsi"), operator="<", value=50.0),
            Condition(left=module("ema", period=20), operator="<", value=Operand(column="close")),
        )
    )
    return StrategySpec(
        direction="Long",
        entry_blocks=(entry,),
        exit=ExitRules(stop_loss=Level(1.0, "atr"), take_profit=Level(2.0, "r")),
        sizing=Sizing(config=registry.get_module("fixed_fraction").validate_config({})),
        initial_capital=DEFAULT_CAPITAL,
    )


def warm_up() -> None:
    """Run a tiny backtest so a new process loads the compiled kernels from Numba's on-disk
    cache (or compiles them, once per machine and code version) before its first real run.
    A worker can call this at start-up; the engine works the same without it."""
    run_backtest(_warm_frame(), _warm_spec())
