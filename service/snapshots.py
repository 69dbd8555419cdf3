"""The capture use case: policy check, backend choice, capture, and (for POST) storage.

No tornado here: the HTTP layer parses the request, calls these coroutines and maps the domain
exceptions they raise to responses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TypeVar

from service import pdfs, tracing
from service.browsers.backend import CaptureBackend
from service.browsers.breaker import CircuitBreaker
from service.browsers.shots import Shot
from service.capture import Backend, Phase, Timings
from service.config import Settings
from service.errors import (
    BackendUnavailable,
    CaptureTimeout,
    InvalidRequest,
    LocalModeRefused,
    OutputTooLarge,
    ShuttingDown,
    SnapshotError,
    StorageError,
)
from service.filters import Filters
from service.metrics import Metrics
from service.netpolicy import NetworkPolicy
from service.params import CaptureRequest
from service.storage import Storage
from service.tenancy import Tenancy
from service.tenants import Tenants
from service.urls import TargetUrl

T = TypeVar("T")
log = logging.getLogger("snapshot.capture")


@dataclass
class Capture:
    shot: Shot
    backend: Backend
    timings: Timings = field(default_factory=Timings)
    elapsed: float = 0.0  # end to end, upload included


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
        dns_executor: Executor | None = None,
        consent: bool = False,
        breaker: CircuitBreaker | None = None,
        filters: Filters | None = None,
        tenancy: Tenancy | None = None,
    ) -> None:
        backend = grid or local
        if backend is None:
            raise ValueError("a Snapshotter needs a backend")
        self.settings = settings
        self.grid = grid
        self.local = local
        self.default_backend: CaptureBackend = backend
        self.storage = storage
        self.io_executor = io_executor
        self.dns_executor = dns_executor or io_executor  # resolution apart from storage: a slow DNS stalls no upload
        self.metrics = metrics
        self.consent = consent  # autoconsent's rules are there (block_cookie_banners)
        self.filters = filters or Filters()  # the ad and tracker lists there are (block_ads, block_trackers)
        self.tenancy = tenancy or Tenancy(Tenants.empty(), settings, policy, metrics)
        self.breaker = breaker  # SNAPSHOT_GRID_FALLBACK=local: Grid failures send captures to the local backend
        self._accepting = True

    @property
    def backends(self) -> list[CaptureBackend]:
        return [b for b in (self.grid, self.local) if b is not None]

    @property
    def in_flight(self) -> int:
        return sum(backend.in_flight for backend in self.backends)

    def stop_accepting(self) -> None:
        """From now on new requests get 503 ``shutting_down`` (captures in flight and claimed jobs finish)."""
        self._accepting = False

    def admit(self) -> None:
        """Raises ``ShuttingDown`` once the service stopped accepting requests."""
        if not self._accepting:
            raise ShuttingDown("the service is shutting down; retry on another replica")

    def backend_for(self, request: CaptureRequest) -> CaptureBackend:
        """The backend the request runs on; raises ``LocalModeRefused``."""
        if request.localmode and self.grid is not None:
            if not self.settings.allow_localmode or self.local is None:
                raise LocalModeRefused("this service does not allow localmode captures")
            return self.local
        if self.breaker is not None and self.local is not None and not self.breaker.use_grid():
            return self.local  # the Grid's circuit is open: the fallback
        return self.default_backend

    async def io(self, fn: Callable[..., T], *args: object, deadline: float, executor: Executor | None = None) -> T:
        """``fn(*args)`` (blocking: storage) on the I/O executor (or ``executor``), within ``deadline``."""
        loop = asyncio.get_running_loop()
        remaining = deadline - time.monotonic()
        try:
            future = loop.run_in_executor(executor or self.io_executor, fn, *args)
            return await asyncio.wait_for(future, timeout=remaining)
        except TimeoutError:
            raise CaptureTimeout("the capture did not finish before its deadline") from None

    async def check(self, target: TargetUrl | None, deadline: float, tenant: str = "") -> None:
        """The target against the network policy (``tenant``'s: the service's and its own networks),
        resolved on the DNS executor; raises ``Blocked``.  None (a body without base_url) has nothing to check."""
        if target is None:
            return
        policy = self.tenancy.policy_for(tenant)
        await self.io(policy.check, target, deadline=deadline, executor=self.dns_executor)

    async def capture(
        self, request: CaptureRequest, backend: CaptureBackend, cancel: threading.Event | None = None
    ) -> Capture:
        """The request captured on ``backend`` (see ``backend_for``)."""
        self._check_available(request)
        started = time.monotonic()
        timeout = self.settings.capture_timeout
        if request.options.timeout is not None:
            timeout = min(timeout, request.options.timeout / 1000)
        deadline = started + timeout
        timings = Timings()
        with timings.measure(Phase.CHECK):  # every page of a merged PDF before any is printed
            for target in request.pages or (request.checked_target,):
                await self.check(target, deadline, request.tenant)
        reach = self.tenancy.reach(request.tenant, deadline)
        if reach is not None:  # its own networks, at the proxy too (service/tenancy.py)
            request = dataclasses.replace(request, reach=reach)
        try:
            # /create_pdf's urls: each printed in turn within the one deadline (a capture is one of them)
            if not request.pages:
                capture = await self._capture(request, backend, deadline, timings, cancel, started)
                if not request.options.pdf_pdfa:
                    return capture
                captures = [capture]
            else:
                captures = []
                for number, target in enumerate(request.pages, 1):
                    with tracing.span("page", {"snapshot.page": number}):
                        page = dataclasses.replace(request, target=target, pages=())
                        captures.append(await self._capture(page, backend, deadline, timings, cancel, started))
            return await self._document(request, captures, deadline, started)
        except SnapshotError as exc:
            if exc.evidence is not None:  # evidence=true: the page as it was, stored like a result
                exc.evidence_key = await self._store_evidence(exc.evidence)
            raise
        finally:
            self.tenancy.held(request.tenant, timings)

    async def _store_evidence(self, data: bytes) -> str | None:
        key = self.storage.new_key("png")
        try:
            with tracing.span("evidence"):
                await self.store(key, data, "image/png")
        except (StorageError, CaptureTimeout) as exc:
            log.warning("the evidence of a failed capture could not be stored: %s", exc)
            return None
        return key

    async def _capture(
        self,
        request: CaptureRequest,
        backend: CaptureBackend,
        deadline: float,
        timings: Timings,
        cancel: threading.Event | None,
        started: float,
    ) -> Capture:
        try:
            shot = await backend.capture(request, deadline, timings, cancel)
        except BackendUnavailable:
            if not self._fall_back(backend) or time.monotonic() >= deadline:
                raise
            assert self.local is not None  # _fall_back checked it
            backend = self.local  # the circuit opened: this capture falls back too
            shot = await backend.capture(request, deadline, timings, cancel)
        else:
            if self.breaker is not None and backend is self.grid:
                self.breaker.success()
        for blocked_by, count in shot.info.blocked.items():
            self.metrics.blocked_requests.labels(blocked_by).inc(count)
        return Capture(shot, backend.name, timings, time.monotonic() - started)

    async def _document(
        self, request: CaptureRequest, captures: list[Capture], deadline: float, started: float
    ) -> Capture:
        """/create_pdf's PDFs merged in order and the PDF/A made: after the browser, in the I/O executor."""
        first, limit = captures[0], self.settings.max_image_bytes
        data = first.shot.data
        if len(captures) > 1:
            documents = [capture.shot.data for capture in captures]
            with tracing.span("pdf merge", {"snapshot.pages": len(documents)}):
                data = await self.io(pdfs.merge, documents, self.settings.max_pdf_pages, deadline=deadline)
        if request.options.pdf_pdfa:
            with tracing.span("pdfa"):  # Ghostscript
                data = await self.io(pdfs.to_pdfa, data, deadline - time.monotonic(), limit, deadline=deadline)
        if len(data) > limit:
            raise OutputTooLarge(f"the PDF is more than the {limit} bytes allowed")
        shot = dataclasses.replace(first.shot, data=data)
        return Capture(shot, first.backend, first.timings, time.monotonic() - started)

    def _check_available(self, request: CaptureRequest) -> None:
        """Options that need what this service may lack (rules, lists) get 400 without it."""
        o = request.options
        missing = [("block_cookie_banners", "consent rules (SNAPSHOT_AUTOCONSENT_DIR)")] if (
            o.block_cookie_banners and not self.consent) else []  # fmt: skip
        if o.pdf_pdfa and pdfs.ghostscript() is None:
            missing.append(("pdf_pdfa", "Ghostscript (Debian ghostscript) for PDF/A"))
        for option, category in (("block_ads", "ads"), ("block_trackers", "trackers")):
            if getattr(o, option) and not self.filters.has(category):
                missing.append((option, f"{category} filter list (SNAPSHOT_FILTER_LISTS_DIR)"))
        if missing:
            details = [{"parameter": option, "message": f"this service has no {what}"} for option, what in missing]
            raise InvalidRequest(details[0]["message"], code="invalid_options", details=details)

    def _fall_back(self, backend: CaptureBackend) -> bool:
        """After a Grid failure: counts it, and whether the capture goes to the local fallback now."""
        if self.breaker is None or backend is not self.grid:
            return False
        self.breaker.failure()
        return self.local is not None and not self.breaker.use_grid()

    async def store(self, key: str, data: bytes, media_type: str, timings: Timings | None = None) -> None:
        """``data`` stored under ``key``, the upload timed into ``timings``.  Storage gets its own budget:
        a capture that finished in time is not thrown away."""
        started = time.monotonic()
        try:
            await self.io(self.storage.put, key, data, media_type, deadline=started + self.settings.capture_timeout)
        except (StorageError, CaptureTimeout):
            self.metrics.storage_errors.labels(self.storage.name).inc()
            raise
        if timings is not None:
            timings.add(Phase.UPLOAD, time.monotonic() - started)
