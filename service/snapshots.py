"""The capture use case: policy check, backend choice, capture, and (for POST) storage.

No tornado here: the HTTP layer parses the request, calls these coroutines and maps the domain
exceptions they raise to responses.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TypeVar

from service.browsers.backend import CaptureBackend
from service.browsers.shots import Shot
from service.capture import Backend, CaptureRequest, Phase, Timings
from service.config import Settings
from service.errors import CaptureTimeout, InvalidRequest, LocalModeRefused, ShuttingDown, StorageError
from service.images import EXTENSIONS, MEDIA_TYPES
from service.metrics import Metrics
from service.netpolicy import NetworkPolicy
from service.storage import Storage

T = TypeVar("T")


@dataclass
class Capture:
    shot: Shot
    backend: Backend
    timings: Timings = field(default_factory=Timings)
    elapsed: float = 0.0  # end to end, upload included

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.shot.format]

    def headers(self) -> dict[str, str]:
        """What the capture found, as ``X-Snapshot-*`` response headers."""
        info = self.shot.info
        headers = {
            "X-Snapshot-Backend": str(self.backend),
            "X-Snapshot-Final-Url": info.final_url,
            "X-Snapshot-Http-Status": str(info.http_status),
            "X-Snapshot-Page-Height": str(self.shot.page_height),
        }
        if self.shot.truncated:
            headers["X-Snapshot-Truncated"] = "true"
        return headers


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
        consent: bool = False,
    ) -> None:
        backend = grid or local
        if backend is None:
            raise ValueError("a Snapshotter needs a backend")
        self.settings = settings
        self.policy = policy
        self.grid = grid
        self.local = local
        self.default_backend: CaptureBackend = backend
        self.storage = storage
        self.io_executor = io_executor
        self.metrics = metrics
        self.consent = consent  # autoconsent's rules are there (block_cookie_banners)
        self._accepting = True

    @property
    def backends(self) -> list[CaptureBackend]:
        return [b for b in (self.grid, self.local) if b is not None]

    @property
    def in_flight(self) -> int:
        return sum(backend.in_flight for backend in self.backends)

    def stop_accepting(self) -> None:
        """From now on captures get 503 ``shutting_down`` (those in flight finish)."""
        self._accepting = False

    def backend_for(self, request: CaptureRequest) -> CaptureBackend:
        """The backend the request runs on; raises ``LocalModeRefused``."""
        if request.localmode and self.grid is not None:
            if not self.settings.allow_localmode or self.local is None:
                raise LocalModeRefused("this service does not allow localmode captures")
            return self.local
        return self.default_backend

    async def _io(self, fn: Callable[..., T], *args: object, deadline: float) -> T:
        loop = asyncio.get_running_loop()
        remaining = deadline - time.monotonic()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.io_executor, fn, *args), timeout=remaining)
        except TimeoutError:
            raise CaptureTimeout("the capture did not finish before its deadline") from None

    async def capture(
        self, request: CaptureRequest, backend: CaptureBackend, cancel: threading.Event | None = None
    ) -> Capture:
        """The request captured on ``backend`` (see ``backend_for``)."""
        if not self._accepting:
            raise ShuttingDown("the service is shutting down; retry on another replica")
        if request.options.block_cookie_banners and not self.consent:
            message = "this service has no consent rules (SNAPSHOT_AUTOCONSENT_DIR)"
            details = [{"parameter": "block_cookie_banners", "message": message}]
            raise InvalidRequest(message, code="invalid_options", details=details)
        started = time.monotonic()
        timeout = self.settings.capture_timeout
        if request.options.timeout is not None:
            timeout = min(timeout, request.options.timeout / 1000)
        deadline = started + timeout
        timings = Timings()
        with timings.measure(Phase.CHECK):
            await self._io(self.policy.check, request.target, deadline=deadline)
        shot = await backend.capture(request, deadline, timings, cancel)
        return Capture(shot, backend.name, timings, time.monotonic() - started)

    async def capture_and_store(
        self,
        request: CaptureRequest,
        backend: CaptureBackend,
        request_base_url: str,
        cancel: threading.Event | None = None,
    ) -> tuple[str, Capture]:
        capture = await self.capture(request, backend, cancel)
        t0 = time.monotonic()
        key = self.storage.new_key(EXTENSIONS[capture.shot.format])
        # Storage gets its own budget: a capture that finished in time is not thrown away.
        try:
            await self._io(
                self.storage.put,
                key,
                capture.shot.data,
                capture.media_type,
                deadline=t0 + self.settings.capture_timeout,
            )
        except (StorageError, CaptureTimeout):
            self.metrics.storage_errors.labels(self.storage.name).inc()
            raise
        url = self.storage.url_for(key, request_base_url)
        upload = time.monotonic() - t0
        capture.timings.add(Phase.UPLOAD, upload)
        capture.elapsed += upload
        return url, capture
