"""The capture use case: policy check, backend choice, capture, and (for POST) storage.

No tornado here: the HTTP layer parses the request, calls these coroutines and maps the domain
exceptions they raise to responses.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field

from service.backend import CaptureBackend
from service.browser import CaptureTimings
from service.config import Settings
from service.errors import CaptureTimeout, LocalModeRefused, ShuttingDown, StorageError
from service.metrics import Metrics
from service.netpolicy import NetworkPolicy
from service.params import CaptureRequest
from service.storage import Storage


@dataclass
class Capture:
    png: bytes
    backend: str
    timings: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0  # end to end, upload included

    def server_timing(self) -> str:
        """The phases as a Server-Timing header (milliseconds), shown by browsers' developer tools."""
        return ", ".join(f"{name};dur={1000 * seconds:.1f}" for name, seconds in self.timings.items())


class Snapshotter:
    def __init__(
        self,
        settings: Settings,
        *,
        policy: NetworkPolicy,
        grid: CaptureBackend | None,
        local: CaptureBackend | None,
        storage: Storage,
        io_executor: Executor,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.grid = grid
        self.local = local
        self.storage = storage
        self.io_executor = io_executor
        self.metrics = metrics
        self.accepting = True

    @property
    def backends(self) -> list[CaptureBackend]:
        return [b for b in (self.grid, self.local) if b is not None]

    def backend_for(self, request: CaptureRequest) -> CaptureBackend:
        if request.localmode and self.grid is not None:
            if not self.settings.allow_localmode or self.local is None:
                raise LocalModeRefused("this service does not allow localmode captures")
            return self.local
        backend = self.grid or self.local
        assert backend is not None
        return backend

    @property
    def default_backend_name(self) -> str:
        return (self.grid or self.local).name  # type: ignore[union-attr]

    def backend_name(self, request: CaptureRequest) -> str:
        """The backend a request goes to (for labels and logs; never raises)."""
        try:
            return self.backend_for(request).name
        except LocalModeRefused:
            return self.default_backend_name

    async def _io(self, fn, *args, deadline: float):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        remaining = deadline - time.monotonic()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.io_executor, fn, *args), timeout=remaining)
        except TimeoutError:
            raise CaptureTimeout("the capture did not finish before its deadline") from None

    async def capture(self, request: CaptureRequest, cancel: threading.Event | None = None) -> Capture:
        if not self.accepting:
            raise ShuttingDown("the service is shutting down; retry on another replica")
        started = time.monotonic()
        deadline = started + self.settings.capture_timeout
        backend = self.backend_for(request)
        await self._io(self.policy.check, request.target, deadline=deadline)
        checked = time.monotonic()
        png, t = await backend.capture(request.url, request.width, request.height, deadline, cancel)
        return Capture(png, backend.name, _timings(t, checked - started), time.monotonic() - started)

    async def capture_and_store(
        self, request: CaptureRequest, request_base_url: str, cancel: threading.Event | None = None
    ) -> tuple[str, Capture]:
        capture = await self.capture(request, cancel)
        t0 = time.monotonic()
        key = self.storage.new_key()
        # Storage gets its own budget: a capture that finished in time is not thrown away.
        try:
            await self._io(self.storage.put, key, capture.png, deadline=t0 + self.settings.capture_timeout)
        except (StorageError, CaptureTimeout):
            self.metrics.storage_errors.labels(self.storage.name).inc()
            raise
        url = self.storage.url_for(key, request_base_url)
        capture.timings["upload"] = time.monotonic() - t0
        capture.elapsed += capture.timings["upload"]
        return url, capture


def _timings(t: CaptureTimings, check: float) -> dict[str, float]:
    return {"check": check, "queue": t.queue, "session": t.session, "navigate": t.navigate,
            "screenshot": t.screenshot}
