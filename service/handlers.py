"""HTTP handlers: thin; they parse, call the domain, and let ``BaseHandler`` (``service/web.py``) map
domain exceptions to JSON errors."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable
from typing import TypeVar

import tornado.httputil
import tornado.web
from prometheus_client import CONTENT_TYPE_LATEST

from service.auth import ApiKeys
from service.browsers.backend import CaptureBackend
from service.capture import CaptureRequest, Outcome
from service.config import Settings
from service.errors import InvalidRequest
from service.health import Readiness
from service.images import BY_EXTENSION
from service.limits import ClientLimiter
from service.metrics import Metrics
from service.openapi import OPENAPI
from service.option_checks import Value
from service.options import Endpoint
from service.params import parse_capture_request
from service.snapshots import Capture, Snapshotter
from service.web import BaseHandler, JsonErrors

T = TypeVar("T")

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_JSON_TYPE = "application/json"


class NotFoundHandler(BaseHandler):
    handler_name = "not_found"

    def prepare(self) -> None:
        raise tornado.web.HTTPError(404, "no such endpoint")


@tornado.web.stream_request_body
class CaptureHandler(BaseHandler):
    """``/create_snap`` (the published API) and ``/create_pdf``: GET returns the image or PDF, POST
    stores it and returns its URL.  Parameters come from the query, a form body or a JSON body.

    The body is streamed so that an oversized one is refused with a 413 JSON answer as soon as its
    size is known, then parsed here like Tornado would."""

    handler_name = "create_snap"
    endpoint: Endpoint
    settings_: Settings
    snapshotter: Snapshotter
    metrics: Metrics
    limiter: ClientLimiter
    api_keys: ApiKeys
    capture: Capture | None = None
    backend: CaptureBackend | None = None
    _client: str | None = None

    def prepare(self) -> None:
        self.client_gone = threading.Event()
        self._body = bytearray()
        self._received = 0
        limit = self.settings_.max_body_size
        declared = self.request.headers.get("Content-Length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise tornado.web.HTTPError(413, f"the request body is larger than {limit} bytes")
        client = self.request.remote_ip or "unknown"
        self.limiter.acquire(client)  # 429 for a client over its limits
        self._client = client
        if self.api_keys.enabled:
            query = {
                name: [v.decode("utf-8", "replace") for v in values]
                for name, values in self.request.query_arguments.items()
            }
            self.api_keys.check(self.request.headers, query, method=self.request.method or "")

    def data_received(self, chunk: bytes) -> None:
        # a chunked body has no declared size: count it; raising here would drop the connection
        # without an answer, so the 413 is given once the body has been read
        self._received += len(chunk)
        if self._received <= self.settings_.max_body_size:
            self._body.extend(chunk)

    def _parse_body(self) -> None:
        if self._received > self.settings_.max_body_size:
            raise tornado.web.HTTPError(413, f"the request body is larger than {self.settings_.max_body_size} bytes")
        if not self._body:
            return
        self.request.body = bytes(self._body)
        try:
            tornado.httputil.parse_body_arguments(
                self.request.headers.get("Content-Type", ""),
                self.request.body,
                self.request.body_arguments,
                self.request.files,
                self.request.headers,
            )
        except tornado.httputil.HTTPInputError as exc:
            raise InvalidRequest(f"the body could not be parsed: {exc}", code="malformed_body") from None
        for name, values in self.request.body_arguments.items():
            self.request.arguments.setdefault(name, []).extend(values)

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

    def _content_type(self) -> str:
        return self.request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    def _check_body(self) -> None:
        if self._body and self._content_type() not in (*_FORM_TYPES, _JSON_TYPE):
            raise InvalidRequest(
                "send the parameters as application/json, multipart/form-data, application/x-www-form-urlencoded "
                "or in the query",
                code="unsupported_content_type",
            )

    def _params(self) -> dict[str, list[Value]]:
        """Every parameter of the query and a form body (repeated keys are lists)."""
        try:
            return {name: [v.decode("utf-8") for v in values] for name, values in self.request.arguments.items()}
        except UnicodeDecodeError:
            raise InvalidRequest("the parameters are not UTF-8") from None

    def _json_body(self) -> dict[str, object] | None:
        if not (self._body and self._content_type() == _JSON_TYPE):
            return None
        try:
            body = json.loads(bytes(self._body).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("the body is not valid JSON", code="malformed_body") from None
        if not isinstance(body, dict):
            raise InvalidRequest("the JSON body must be an object of parameters", code="malformed_body")
        return body

    def _parse(self) -> tuple[CaptureRequest, CaptureBackend]:
        request = parse_capture_request(self._params(), self.settings_, self.endpoint, self._json_body())
        self.log_fields = {"target_host": request.target.host, "size": f"{request.width}x{request.height}"}
        self.backend = self.snapshotter.backend_for(request)
        self.log_fields["backend"] = self.backend.name
        return request, self.backend

    def _done(self, capture: Capture) -> None:
        self.capture = capture
        self.outcome = Outcome.SUCCESS
        if self.log_fields is not None:
            self.log_fields["timings_ms"] = capture.timings.milliseconds()
        for name, value in capture.headers().items():
            self.set_header(name, value)
        self.set_header("Server-Timing", capture.timings.server_timing())

    async def get(self) -> None:
        self._parse_body()
        self._check_body()
        request, backend = self._parse()
        capture = await self._while_watching(self.snapshotter.capture(request, backend, self.client_gone))
        self._done(capture)
        self.set_header("Content-Type", capture.media_type)
        self.set_header("Cache-Control", "no-store")
        await self.finish(capture.shot.data)

    async def post(self) -> None:
        self._parse_body()
        self._check_body()
        request, backend = self._parse()
        base = f"{self.request.protocol}://{self.request.host}"
        file_url, capture = await self._while_watching(
            self.snapshotter.capture_and_store(request, backend, base, self.client_gone)
        )
        self._done(capture)
        self.write_json({"file_url": file_url, "status": "success"})

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


class OpenApiHandler(BaseHandler):
    handler_name = "openapi"

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(OPENAPI))


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

    async def get(self) -> None:
        if self.readiness.shutting_down:
            self.write_json({"status": "error", "error": "shutting_down", "checks": {}}, 503)
            return
        results = await self.readiness.results()
        failed = {name: why for name, why in results.items() if why is not None}
        checks = {name: ("ok" if why is None else f"failed: {why}") for name, why in results.items()}
        if failed:
            message = "; ".join(f"{name}: {why}" for name, why in failed.items())
            self.error_code, self.error_message = "not_ready", message  # in the request log too
            self.write_json({"status": "error", "error": "not_ready", "message": message, "checks": checks}, 503)
        else:
            self.write_json({"status": "ok", "checks": checks})


class FilesHandler(JsonErrors, tornado.web.StaticFileHandler):
    """Serves locally stored captures (the embedded default storage)."""

    handler_name = "files"

    def get_content_type(self) -> str:
        return BY_EXTENSION.get((self.absolute_path or "").rsplit(".", 1)[-1], "application/octet-stream")
