"""Calling flaky providers politely: a circuit breaker, a throttle and retries with backoff
for transient errors only. No Django; per process (each worker learns on its own).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from marketdata.providers import ProviderUnavailable

logger = logging.getLogger("qm.data")
T = TypeVar("T")


class CircuitOpen(ProviderUnavailable):
    """The breaker is open: the provider is not called until the cool-down ends."""


@dataclass
class CircuitBreaker:
    """Closed → (``failure_threshold`` consecutive transient failures) → open for
    ``cooldown_seconds`` → half-open: one trial call; success closes, failure re-opens."""

    name: str
    failure_threshold: int = 3
    cooldown_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self):
        self.failures = 0
        self.opened_at: float | None = None
        self.last_error = ""
        self._lock = threading.Lock()
        self._trial_running = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.cooldown_seconds else "open"

    def seconds_until_retry(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_seconds - (self.clock() - self.opened_at))

    def before_call(self) -> None:
        with self._lock:
            state = self.state
            if state == "open" or (state == "half-open" and self._trial_running):
                raise CircuitOpen(
                    f"{self.name} is not called for {self.seconds_until_retry():.0f} s more after "
                    f"{self.failures} failed attempts (last: {self.last_error})",
                    details={"provider": self.name, "retry_after_seconds": round(self.seconds_until_retry())},
                )
            if state == "half-open":
                self._trial_running = True

    def record_success(self) -> None:
        with self._lock:
            self.failures, self.opened_at, self._trial_running = 0, None, False

    def record_failure(self, error: Exception) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = str(error)[:200]
            self._trial_running = False
            if self.opened_at is not None or self.failures >= self.failure_threshold:
                if self.opened_at is None or self.state != "open":
                    logger.warning("circuit for %s opened after %d failures: %s", self.name, self.failures, error)
                self.opened_at = self.clock()

    def reset(self) -> None:
        self.record_success()


class Throttle:
    """At most one call per ``min_interval`` seconds (per process and provider)."""

    def __init__(self, min_interval: float, *, clock=time.monotonic, sleep=time.sleep):
        self.min_interval = min_interval
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            wait = self._next - now
            self._next = max(now, self._next) + self.min_interval
        if wait > 0:
            self._sleep(wait)


def call_with_retries(
    fn: Callable[[], T],
    *,
    breaker: CircuitBreaker,
    throttle: Throttle | None = None,
    retries: int = 2,
    backoff: float = 0.5,
    max_backoff: float = 8.0,
    sleep=time.sleep,
) -> T:
    """Call ``fn`` through the breaker; retry only ``ProviderUnavailable`` (transient), up to
    ``retries`` more times with exponential backoff and jitter. Anything else propagates at once
    and does not count against the provider (a bad request is not an outage)."""
    attempt = 0
    while True:
        breaker.before_call()
        if throttle is not None:
            throttle.wait()
        try:
            result = fn()
        except CircuitOpen:
            raise
        except ProviderUnavailable as exc:
            breaker.record_failure(exc)
            if attempt >= retries or breaker.state == "open":
                raise
            delay = min(max_backoff, backoff * (2**attempt)) * (0.5 + random.random() / 2)
            logger.info("%s: transient error (%s), retry %d in %.2f s", breaker.name, exc, attempt + 1, delay)
            sleep(delay)
            attempt += 1
            continue
        breaker.record_success()
        return result
