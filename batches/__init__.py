"""Batch backtests: parameter sweeps, multi-market batches, walk-forward analysis, schedules.
See docs/batches.md."""
