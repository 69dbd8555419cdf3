"""Readiness (``service/health.py``): each dependency checked on an executor of its own, within a hard
timeout, the failing one named without its details."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from service.health import Readiness


def test_a_check_that_hangs_is_a_failed_check_not_a_hung_probe():
    release = threading.Event()

    def hangs() -> None:
        release.wait(30)

    def fails() -> None:
        raise OSError("connect to 10.1.2.3:6379 refused")

    executor = ThreadPoolExecutor(2)
    readiness = Readiness({"grid": hangs, "redis": fails, "storage": lambda: None}, executor, timeout=0.3)
    try:
        started = time.monotonic()
        results = asyncio.run(readiness.results())
        assert time.monotonic() - started < 5
        assert results == {"grid": "no answer in time", "redis": "not reachable or not working", "storage": None}
    finally:
        release.set()
        executor.shutdown(wait=True)
