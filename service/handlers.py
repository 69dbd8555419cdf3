"""HTTP handlers: thin; they parse, call the domain, and let ``BaseHandler`` (``service/web.py``) map
domain exceptions to JSON errors."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable
from typing import TypeVar

import tornado.httputil
import tornado.web
from prometheus_client import CONTENT_TYPE_LATEST

from service.answers import Accepted, Stored, to_json
from service.auth import ApiKeys, Unauthorized
from service.browsers.backend import CaptureBackend
from service.browsers.breaker import CircuitBreaker
from service.capture import Outcome
from service.config import Settings
from service.delivery.jobs import Job
from service.delivery.renderer import Renderer
from service.delivery.results import Result
from service.delivery.worker import JobRunner
from service.errors import Blocked, error_body
from service.health import Readiness
from service.images import BY_EXTENSION
from service.limits import ClientLimiter
from service.metrics import Metrics
from service.openapi import served
from service.options import Endpoint
from service.params import CaptureRequest, parse_capture_request
from service.snapshots import Capture, Snapshotter
from service.storage import LocalStorage
from service.web import BaseHandler, JsonErrors, ParamsHandler, client_ip, request_id

T = TypeVar("T")


class NotFoundHandler(BaseHandler):
    handler_name = "not_found"

    def prepare(self) -> None:
        raise tornado.web.HTTPError(404, "no such endpoint")


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
    capture: Capture | None = None
    backend: CaptureBackend | None = None
    tenant = ""  # the caller, when API keys are on (service/auth.py)
    _client: str | None = None

    def prepare(self) -> None:
        self.client_gone = threading.Event()
        self._start_body(self.settings_.max_body_size)
        address = client_ip(self.request, self.settings_.client_hops)
        if self.api_keys.enabled:
            query = {
                name: [v.decode("utf-8", "replace") for v in values]
                for name, values in self.request.query_arguments.items()
            }
            headers = self.request.headers
            has_body = "Transfer-Encoding" in headers or headers.get("Content-Length", "0") not in ("", "0")
            try:
                self.tenant = self.api_keys.check(
                    headers, query, method=self.request.method or "", path=self.request.path, has_body=has_body
                )
            except Unauthorized:
                self._limit(address)  # a client guessing keys is limited by its address
                raise
        # per key when keys are on (many clients may share one address, one key may use many)
        self._limit(f"key:{self.tenant}" if self.tenant else address)

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
        request = parse_capture_request(self._params(), self.settings_, self.endpoint, self._json_body())
        self.log_fields = {"target_host": request.target.host, "size": f"{request.width}x{request.height}"}
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

    def _trusted_base_url(self) -> str:
        """The base of URLs that others receive (a job's webhook): ``SNAPSHOT_PUBLIC_BASE_URL``, else the
        address this connection reached - never the client's ``Host``, which would let one tenant send
        another's receiver signed events pointing at a host of its choosing."""
        if self.settings_.public_base_url:
            return self.settings_.public_base_url
        stream = self.request.connection.stream  # type: ignore[union-attr]
        host, port = stream.socket.getsockname()[:2]
        return f"{self.request.protocol}://{f'[{host}]' if ':' in host else host}:{port}"

    async def get(self) -> None:
        await self._answer("image")

    async def post(self) -> None:
        await self._answer("json")

    async def _answer(self, default_response: str) -> None:
        self._parse_body()
        self._check_body()
        self.snapshotter.admit()
        request, backend = self._parse()
        options = request.options
        if options.async_:
            await self._submit(request)
            return
        response = options.response_type or default_response
        result = await self._while_watching(
            self.renderer.result(
                request, backend, tenant=self.tenant, store=response == "json", cancel=self.client_gone
            )
        )
        self._done(result)
        if response == "empty":
            self.set_status(204)
            await self.finish()
        elif response == "json":
            assert result.key is not None
            found = result.metadata(request_id(self.request)) if options.metadata else {}
            file_url = self.snapshotter.storage.url_for(result.key, self._base_url())
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
                                               tenant=self.tenant)  # fmt: skip
        if loaded is not result:  # rendered again: its own headers
            self._done(loaded)
        self.set_header("Content-Type", loaded.media_type)
        await self.finish(loaded.data)

    def _done(self, result: Result) -> None:
        self.capture = result.capture
        self.outcome = Outcome.SUCCESS
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
        await self.snapshotter.check(request.target, time.monotonic() + self.settings_.capture_timeout)
        job = Job(
            id=Job.new_id(),
            endpoint=self.endpoint.value,
            params={name: [str(v) for v in values] for name, values in self._params().items()},
            body=self._json_body(),
            base_url=self._trusted_base_url(),
            tenant=self.tenant,
            owner=self._client or "",
            created_at=time.time(),
            request_id=request_id(self.request),
            external_id=options.external_id,
            webhook_url=options.webhook_url,
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
        if self.outcome is None:
            return  # e.g. 405 before any parsing
        capture = self.capture
        backend = (self.backend or self.snapshotter.default_backend).name
        self.metrics.observe_capture(
            backend, self.outcome, capture.timings if capture else None, capture.elapsed if capture else None
        )


class JobsHandler(BaseHandler):
    """``GET /jobs/{id}``: an async job's state, result or error, and its webhook attempts.  With API
    keys on, a job is shown only to the key that submitted it (others get 404)."""

    handler_name = "jobs"
    jobs: JobRunner
    api_keys: ApiKeys

    async def get(self, job_id: str) -> None:
        tenant = self.api_keys.check(self.request.headers, {}, method="POST")  # a key, not a signed URL
        job = await self.jobs.get(job_id)
        if job is None or job.tenant != tenant:
            raise tornado.web.HTTPError(404, "no such job (finished jobs are kept for SNAPSHOT_JOB_TTL)")
        self.write_json(self.jobs.view(job))


class OpenApiHandler(BaseHandler):
    handler_name = "openapi"
    settings_: Settings

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(served(self.settings_))  # made once, for this service's settings


class MetricsHandler(BaseHandler):
    handler_name = "metrics"
    metrics: Metrics

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(self.metrics.exposition())


class HealthzHandler(BaseHandler):
    handler_name = "healthz"

    def get(self) -> None:
        self.write_json({"status": "ok"})


class ReadyzHandler(BaseHandler):
    handler_name = "readyz"

    readiness: Readiness
    breaker: CircuitBreaker | None = None

    async def get(self) -> None:
        if self.readiness.shutting_down:
            self.write_json({**error_body("shutting_down", "the service is shutting down"), "checks": {}}, 503)
            return
        results = await self.readiness.results()
        optional = self.readiness.optional
        failed = {name: why for name, why in results.items() if why is not None and name not in optional}
        checks = {
            name: "ok" if why is None else f"{'degraded' if name in optional else 'failed'}: {why}"
            for name, why in results.items()
        }
        if self.breaker is not None:
            state = self.breaker.state.value
            checks["grid_circuit"] = state if state == "closed" else f"{state} (captures fall back to local)"
        if failed:
            message = "; ".join(f"{name}: {why}" for name, why in failed.items())
            self.error_code, self.error_message = "not_ready", message  # in the request log too
            self.write_json({**error_body("not_ready", message), "checks": checks, **self.readiness.facts}, 503)
        else:
            self.write_json({"status": "ok", "checks": checks, **self.readiness.facts})


class FilesHandler(JsonErrors, tornado.web.StaticFileHandler):
    """Serves locally stored captures (the embedded default storage)."""

    handler_name = "files"
    storage: LocalStorage

    def initialize(self, path: str, storage: LocalStorage) -> None:  # type: ignore[override]
        super().initialize(path)
        self.storage = storage

    def prepare(self) -> None:
        key = self.path_args[0] if self.path_args else ""
        expires, signature = self.get_query_argument("expires", ""), self.get_query_argument("signature", "")
        if not self.storage.verify(key, expires, signature):
            raise tornado.web.HTTPError(403, "the file URL has expired or its signature is not valid")

    def get_content_type(self) -> str:
        return BY_EXTENSION.get((self.absolute_path or "").rsplit(".", 1)[-1], "application/octet-stream")
