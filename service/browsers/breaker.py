"""The Grid's circuit breaker (``SNAPSHOT_GRID_FALLBACK=local``): after ``threshold`` Grid failures in a
row it opens and captures run on the local backend; after ``cooldown`` seconds it half-opens and lets
one capture probe the Grid; that capture's success closes it, its failure opens it again.  Its state is
a metric, a log line on each change, and part of ``/readyz``'s answer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import StrEnum

log = logging.getLogger("snapshot.breaker")


class Circuit(StrEnum):
    CLOSED = "closed"  # captures go to the Grid
    OPEN = "open"  # captures go to the local backend
    HALF_OPEN = "half_open"  # one capture probes the Grid


class CircuitBreaker:
    def __init__(
        self,
        threshold: int,
        cooldown: float,
        on_change: Callable[[Circuit], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.on_change = on_change or (lambda state: None)
        self.clock = clock
        self.state = Circuit.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._lock = threading.Lock()

    def _set(self, state: Circuit) -> None:
        if state is not self.state:
            log.warning("Grid circuit %s -> %s", self.state.value, state.value)
            self.state = state
            self.on_change(state)

    def use_grid(self) -> bool:
        """Whether the next capture goes to the Grid (in half-open: only the one probe)."""
        with self._lock:
            if self.state is Circuit.OPEN and self.clock() - self._opened_at >= self.cooldown:
                self._set(Circuit.HALF_OPEN)
                self._probing = False
            if self.state is Circuit.CLOSED:
                return True
            if self.state is Circuit.HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._probing = False
            self._set(Circuit.CLOSED)

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._probing = False
            if self.state is Circuit.HALF_OPEN or self._failures >= self.threshold:
                self._opened_at = self.clock()
                self._set(Circuit.OPEN)
