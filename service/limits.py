"""Per-client limits: captures in flight and a request rate (token bucket), answered with 429."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from service.errors import Overloaded

_MAX_CLIENTS = 10_000  # idle entries are dropped beyond this many


@dataclass
class _Client:
    in_flight: int
    tokens: float
    updated: float


class ClientLimiter:
    """``max_in_flight`` captures at once and ``rate`` requests per second (bursts of ``burst``) per
    client; 0 turns a limit off.  Runs on the IOLoop thread only."""

    def __init__(
        self, max_in_flight: int, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_in_flight = max_in_flight
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self._clients: dict[str, _Client] = {}

    def acquire(self, client: str) -> None:
        now = self.clock()
        state = self._clients.get(client)
        if state is None:
            if len(self._clients) >= _MAX_CLIENTS:
                self._forget_idle(now)
            state = self._clients[client] = _Client(0, float(self.burst), now)
        if self.rate > 0:
            state.tokens = min(self.burst, state.tokens + (now - state.updated) * self.rate)
            state.updated = now
            if state.tokens < 1:
                wait = math.ceil((1 - state.tokens) / self.rate)
                raise Overloaded(f"more than {self.rate:g} requests per second from {client}", retry_after=wait)
        if self.max_in_flight > 0 and state.in_flight >= self.max_in_flight:
            raise Overloaded(f"{client} already has {state.in_flight} captures in flight", retry_after=1)
        if self.rate > 0:
            state.tokens -= 1
        state.in_flight += 1

    def release(self, client: str) -> None:
        state = self._clients.get(client)
        if state is not None and state.in_flight > 0:
            state.in_flight -= 1

    def _forget_idle(self, now: float) -> None:
        for client, state in list(self._clients.items()):
            refilled = self.rate <= 0 or state.tokens + (now - state.updated) * self.rate >= self.burst
            if state.in_flight == 0 and refilled:
                del self._clients[client]
