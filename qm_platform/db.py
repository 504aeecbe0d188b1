"""Commits that need not wait for the disk.

PostgreSQL makes every commit durable before it answers: it waits for the WAL to reach the disk
(2.5–4 ms a commit on this machine's disk). A run commits several bookkeeping writes — the claim,
progress and heartbeat, its step timings, the moment it was handed to the broker — and each of
them made the worker wait for the disk, while none of them would be missed after a database
crash: a lost claim or heartbeat makes the run look unclaimed or stale, and the redelivered task
or the reaper takes it over (the lease guards the results); lost progress is overwritten by the
next write; lost timings only leave a benchmark's breakdown short; a lost dispatch time makes
the outbox send the run again, and the conditional claim ignores the duplicate.

``relaxed_commit`` runs such a write in a transaction with ``SET LOCAL synchronous_commit TO
OFF`` (PostgreSQL's documented per-transaction switch: the commit returns before the WAL
flush; a crash can lose the last few hundred milliseconds of such commits, never corrupt or
reorder them). Results and status changes a user relies on keep the default. Inside an outer
transaction it changes nothing: the outer commit decides, durably. On other databases (SQLite,
the embedded default) it is a plain transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def relaxed_commit() -> Iterator[None]:
    """A transaction whose commit does not wait for the WAL flush (see the module docstring);
    use only for writes that a database crash may lose without harm."""
    outer = connection.in_atomic_block
    with transaction.atomic():
        if not outer and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
