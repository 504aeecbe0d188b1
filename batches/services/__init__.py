"""Writes for batches and schedules, one module per job:

- ``plan``: validate a batch request and plan it (strategy or template, grid, markets,
  timeframes, sample, objective, constraints, walk-forward windows, the user's limit);
  compile combinations with the one request compiler.
- ``lifecycle``: create, dispatch, advance, cancel, sweep and finalise a batch. Only this
  module changes a batch's status.
- ``summary``: the summary of a final batch (best run, Deflated Sharpe Ratio, distribution,
  the stitched walk-forward result) and drift against the schedule's previous batch.
- ``schedules``: schedules and their django-celery-beat PeriodicTasks; firing one.
- ``report``: the batch report, as HTML and as a stored PDF.

Import the function from its module (``from batches.services.lifecycle import batch_create``).
"""
