"""HTTP handlers: thin; they parse, call the domain, and let ``BaseHandler`` (``service/web.py``) map
domain exceptions to JSON errors."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Awaitable
from typing import TypeVar

import tornado.httputil
import tornado.web

from service import tracing
from service.answers import Accepted, Stored, to_json
from service.auth import ApiKeys, Caller, Unauthorized
from service.browsers.backend import CaptureBackend
from service.capture import Outcome
from service.config import Settings
from service.delivery.jobs import Job
from service.delivery.renderer import Renderer
from service.delivery.results import Result
from service.delivery.worker import JobRunner
from service.errors import Blocked, SnapshotError
from service.images import TEXT_HEADERS
from service.limits import ClientLimiter
from service.metrics import Metrics
from service.options import Endpoint
from service.params import CaptureRequest, parse_capture_request
from service.snapshots import Capture, Snapshotter
from service.tenancy import Tenancy
from service.web import ParamsHandler, client_ip, request_id, trusted_base_url

T = TypeVar("T")


@tornado.web.stream_request_body
class CaptureHandler(ParamsHandler):
    """``/create_snap`` (the published API) and ``/create_pdf``: GET returns the image or PDF, POST
    stores it and returns its URL.  Parameters come from the query, a form body or a JSON body.

    The body is streamed (``ParamsHandler``) so that an oversized one is refused with a 413 JSON answer."""

    handler_name = "create_snap"
    endpoint: Endpoint
    settings_: Settings
    snapshotter: Snapshotter
    metrics: Metrics
    limiter: ClientLimiter
    api_keys: ApiKeys
    renderer: Renderer
    jobs: JobRunner
    tenancy: Tenancy
    capture: Capture | None = None
    backend: CaptureBackend | None = None
    caller = Caller()  # who calls, when API keys are on (service/auth.py)
    delivered = 0  # bytes of the result it got
    submitted = False  # an async job was queued
    _client: str | None = None
    _tenant_held = False

    def prepare(self) -> None:
        self.client_gone = threading.Event()
        self._start_body(self.settings_.max_capture_body)
        address = client_ip(self.request, self.settings_.client_hops)
        if self.api_keys.enabled:
            query = {
                name: [v.decode("utf-8", "replace") for v in values]
                for name, values in self.request.query_arguments.items()
            }
            headers = self.request.headers
            has_body = "Transfer-Encoding" in headers or headers.get("Content-Length", "0") not in ("", "0")
            try:
                self.caller = self.api_keys.identify(
                    headers, query, method=self.request.method or "", path=self.request.path, has_body=has_body
                )
            except Unauthorized:
                self._limit(address)  # a client guessing keys is limited by its address
                raise
        # per key when keys are on (many clients may share one address, one key may use many)
        self._limit(f"key:{self.caller.id}" if self.caller.id else address)
        self.tenancy.acquire(self.caller.name)  # the tenant's own limits, beside the client's
        self._tenant_held = True

    def _limit(self, client: str) -> None:
        self.limiter.acquire(client)  # 429 for a client over its limits
        self._client = client  # released when the request ends

    def on_connection_close(self) -> None:
        # the client hung up: abandon its capture and give the browser back
        self.client_gone.set()
        if self.outcome is None:
            self.outcome = Outcome.CANCELLED

    async def _watch_client(self) -> None:
        """Tornado reads nothing while a handler runs, so it would notice a hang-up only when it writes:
        peek at the socket twice a second (MSG_PEEK consumes nothing) and flag an orderly close."""
        stream = self.request.connection.stream  # type: ignore[union-attr]
        while not self.client_gone.is_set():
            await asyncio.sleep(0.5)
            sock = getattr(stream, "socket", None)
            if sock is None or stream.closed():
                self.on_connection_close()
                return
            try:
                if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    self.on_connection_close()
                    return
            except (BlockingIOError, InterruptedError):
                continue  # connected, nothing sent: the usual case
            except OSError:
                self.on_connection_close()
                return

    async def _while_watching(self, work: Awaitable[T]) -> T:
        watcher = asyncio.ensure_future(self._watch_client())
        try:
            return await work
        finally:
            watcher.cancel()

    def _parse(self) -> tuple[CaptureRequest, CaptureBackend]:
        settings = self.tenancy.settings_for(self.caller.name)  # its permissions (allow_scripts)
        request = parse_capture_request(self._params(), settings, self.endpoint, self._json_body())
        if self.caller.name:
            request = dataclasses.replace(request, tenant=self.caller.name)
        # a body's own text is never logged: only what it is
        host = request.target.host if request.document is None else f"({request.document.kind})"
        self.log_fields = {"target_host": host, "size": f"{request.width}x{request.height}"}
        if self.caller.name:
            self.log_fields["tenant"] = self.caller.name  # its name: never a key
        detail = self.settings_.trace_target_urls
        if detail != "host" and request.document is None:  # the host is in the span (as in the log)
            tracing.annotate({"snapshot.target_url": tracing.target_url(request.url, detail)})
        self.backend = self.snapshotter.backend_for(request)
        self.log_fields["backend"] = self.backend.name
        return request, self.backend

    def _base_url(self) -> str:
        """The base of URLs answered to this client (its own ``Host``: it reaches the service so)."""
        protocol = self.request.protocol
        forwarded = self.request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        if self.settings_.client_hops and forwarded in ("http", "https"):
            protocol = forwarded  # TLS ended at the proxy in front
        return f"{protocol}://{self.request.host}"

    async def get(self) -> None:
        await self._answer("image")

    async def post(self) -> None:
        await self._answer("json")

    async def _answer(self, default_response: str) -> None:
        self._parse_body()
        self._check_body()
        self.snapshotter.admit()
        request, backend = self._parse()
        await self.tenancy.take_quota(self.caller.name)  # counted when admitted (service/tenancy.py)
        options = request.options
        if options.async_:
            await self._submit(request)
            return
        response = options.response_type or default_response
        try:
            result = await self._while_watching(
                self.renderer.result(
                    request, backend, tenant=self.caller.id, store=response == "json", cancel=self.client_gone
                )
            )
        except SnapshotError as exc:
            if exc.evidence_key is not None:  # evidence=true: where the page as it failed is stored
                exc.evidence_url = self.snapshotter.storage.url_for(exc.evidence_key, self._base_url())
            raise
        self._done(result)
        if response == "empty":
            self.set_status(204)
            await self.finish()
        elif response == "json":
            assert result.key is not None
            found = result.metadata(request_id(self.request)) if options.metadata else {}
            file_url = self.snapshotter.storage.url_for(result.key, self._base_url())
            if request.endpoint is Endpoint.CONTENT:  # the content itself, beside where it is stored
                loaded = await self.renderer.with_data(result, request, backend, tenant=self.caller.id)
                found["content"] = (loaded.data or b"").decode("utf-8", "replace")
            self.write_json(to_json(Stored(file_url, **found)))
        else:
            await self._image(request, result)

    async def _image(self, request: CaptureRequest, result: Result) -> None:
        ttl = request.options.cache_ttl
        self.set_header("ETag", result.etag)
        age = self.renderer.age(result)
        self.set_header("Cache-Control", f"private, max-age={max(0, ttl - age)}" if ttl else "no-store")
        if self.check_etag_header():  # If-None-Match: the client has this picture
            self.set_status(304)
            await self.finish()
            return
        loaded = await self.renderer.with_data(result, request, self.backend or self.snapshotter.default_backend,
                                               tenant=self.caller.id)  # fmt: skip
        if loaded is not result:  # rendered again: its own headers
            self._done(loaded)
        self.set_header("Content-Type", loaded.media_type)
        if request.endpoint is Endpoint.CONTENT:  # a page's HTML, from this origin: nothing of it may run here
            for name, value in TEXT_HEADERS.items():
                self.set_header(name, value)
        await self.finish(loaded.data)

    def _done(self, result: Result) -> None:
        self.capture = result.capture
        self.outcome = Outcome.SUCCESS
        self.delivered = int(result.meta.get("bytes") or 0)
        if self.log_fields is not None:
            self.log_fields["cache"] = result.cache
            if result.capture is not None:
                self.log_fields["timings_ms"] = result.capture.timings.milliseconds()
        for name, value in result.headers().items():
            self.set_header(name, value)
        if result.cache == "hit":
            self.set_header("Age", str(self.renderer.age(result)))
        if result.capture is not None:
            self.set_header("Server-Timing", result.capture.timings.server_timing())

    async def _submit(self, request: CaptureRequest) -> None:
        """``async=true``: the job queued (429 when the queue is full), answered with 202 at once."""
        options = request.options
        if options.webhook_url is not None and self.jobs.webhooks is not None:
            # hostile like the url: refused now if it points inward (and checked again at each attempt)
            try:
                await self.jobs.webhooks.check(options.webhook_url)
            except Blocked as exc:
                raise Blocked(f"webhook_url: {exc.message}") from None
        # the target too is refused now, not in a job that fails later
        await self.snapshotter.check(
            request.checked_target, time.monotonic() + self.settings_.capture_timeout, request.tenant
        )
        self.submitted = True  # its tenant's usage is recorded when the job ends
        job = Job(
            id=Job.new_id(),
            endpoint=self.endpoint.value,
            params={name: [str(v) for v in values] for name, values in self._params().items()},
            body=self._json_body(),
            base_url=trusted_base_url(self.request, self.settings_.public_base_url),
            tenant=self.caller.id,
            owner=self._client or "",
            created_at=time.time(),
            request_id=request_id(self.request),
            external_id=options.external_id,
            webhook_url=options.webhook_url,
            trace=tracing.carrier(),
        )
        await self.jobs.submit(job)
        self.log_fields = {**(self.log_fields or {}), "job": job.id}
        body = to_json(Accepted(job.id, job.status_url, external_id=job.external_id))
        self.set_header("Location", job.status_url)
        self.write_json(body, 202)

    def on_finish(self) -> None:
        if self._client is not None:
            self.limiter.release(self._client)
            self._client = None
        if self._tenant_held:
            self.tenancy.release(self.caller.name)
            self._tenant_held = False
        if self.outcome is None:
            return  # e.g. 405 before any parsing
        if not self.submitted:
            self.tenancy.record(self.caller.name, self.outcome, self.delivered)
        capture = self.capture
        backend = (self.backend or self.snapshotter.default_backend).name
        self.metrics.observe_capture(
            backend, self.outcome, capture.timings if capture else None, capture.elapsed if capture else None
        )
