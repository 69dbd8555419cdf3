"""Readiness: each dependency checked, results cached for a few seconds, the failing one named."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from service.browsers.grid import GridApi

CheckFn = Callable[[], None]
log = logging.getLogger("snapshot.health")


def grid_check(grid: GridApi, timeout: float = 3.0) -> CheckFn:
    """The Grid's router answers ``/status``.  Its own ``ready`` flag is deliberately not required: it
    is false whenever every slot is busy (this service's warm sessions fill them) and when KEDA has
    scaled the nodes to zero.  A replica that left the load balancer then would never send the session
    requests that make KEDA add nodes; captures that find no slot in time get 503 instead."""

    def check() -> None:
        grid.status(timeout)

    return check


def executable_check(path: str) -> CheckFn:
    def check() -> None:
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"{path} is missing or not executable")

    return check


class Readiness:
    def __init__(
        self,
        checks: dict[str, CheckFn],
        executor: ThreadPoolExecutor,
        *,
        ttl: float = 3.0,
        optional: set[str] | None = None,
        timeout: float = 5.0,
        facts: dict[str, Any] | None = None,
    ) -> None:
        self.checks = checks
        self.facts = facts or {}  # what /readyz shows beside the checks (the filter lists' versions)
        self.optional = optional or set()  # reported, but the replica stays ready when they fail
        self.executor = executor  # its own: readiness answers while captures, storage and webhooks are busy
        self.timeout = timeout  # a check that hangs is a failed check, never a hung probe
        self.ttl = ttl
        self.shutting_down = False  # set by the shutdown: the replica leaves the load balancer
        self._cached: tuple[float, dict[str, str | None]] | None = None
        self._lock = asyncio.Lock()

    async def results(self) -> dict[str, str | None]:
        """{dependency: None when healthy, else why not}."""
        async with self._lock:
            now = time.monotonic()
            if self._cached and now - self._cached[0] < self.ttl:
                return self._cached[1]
            loop = asyncio.get_running_loop()
            names = list(self.checks)
            outcomes = await asyncio.gather(
                *(asyncio.wait_for(loop.run_in_executor(self.executor, self.checks[n]), self.timeout) for n in names),
                return_exceptions=True,
            )
            results: dict[str, str | None] = {}
            for name, outcome in zip(names, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    # the details (hosts, buckets, URLs) go to the log, not to whoever asks /readyz
                    log.warning("readiness: %s failed: %s", name, str(outcome) or type(outcome).__name__)
                    timed_out = isinstance(outcome, TimeoutError)
                    results[name] = "no answer in time" if timed_out else "not reachable or not working"
                else:
                    results[name] = None
            self._cached = (time.monotonic(), results)
            return results


def redis_check(url: str, timeout: float = 3.0) -> CheckFn:
    """Redis answers PING (async jobs and single flight across replicas need it)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def check() -> None:
        client.ping()

    return check
