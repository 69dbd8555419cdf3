"""What every handler shares: JSON error answers mapped from domain exceptions, the request id echoed
on every response, and the fields the request log (``service/logs.py``) and the metrics read."""

from __future__ import annotations

import json
import logging
import re
import uuid
from http import HTTPStatus
from typing import Any

import tornado.httputil
import tornado.netutil
import tornado.web
from opentelemetry.trace import Span, StatusCode

from service import tracing
from service.capture import Outcome
from service.errors import InvalidRequest, SnapshotError, error_body
from service.option_checks import Value

log = logging.getLogger("snapshot.http")

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # logged at debug, never traced
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HTTP_CODES = {
    400: "invalid_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    401: "unauthorized",
    413: "body_too_large",
    429: "overloaded",
}


class JsonErrors(tornado.web.RequestHandler):
    """Error responses as JSON, the request id echoed on every response, and what the request log
    (``service/logs.py``) and the metrics read once the request is done."""

    handler_name = "not_found"  # the metrics label
    error_code: str | None = None
    error_message: str | None = None
    outcome: Outcome | None = None  # capture requests only
    log_fields: dict[str, Any] | None = None

    def set_default_headers(self) -> None:
        self.set_header("X-Request-ID", request_id(self.request))

    async def _execute(self, transforms: list[tornado.web.OutputTransform], *args: bytes, **kwargs: bytes) -> None:
        """The request inside its span (``service/tracing.py``), current in the task that runs it: its capture's
        phases and calls are its children, and its log line names it.  Probes are not traced."""
        if self.request.path in PROBE_PATHS or not tracing.enabled():  # the request's path stays as it was
            await super()._execute(transforms, *args, **kwargs)
            return
        with tracing.server_span(self.request.method or "HTTP", self.request.headers) as span:
            await super()._execute(transforms, *args, **kwargs)
            if span is not None:
                self._describe(span)

    @property
    def route(self) -> str:
        """The path with its variable part named (a span's name stays one per endpoint); empty for unknown paths."""
        if self.handler_name == "not_found":
            return ""
        path = self.request.path
        for arg in self.path_args:
            path = path.replace(arg, "{id}", 1)
        return path

    def _describe(self, span: Span) -> None:
        """What the span says of the answered request: never its query, headers or body, or an error's message
        (it may quote them); the capture's words of the request log (target host, size, backend, outcome)."""
        status, route = self.get_status(), self.route
        span.update_name(f"{self.request.method} {route}".strip())
        span.set_attributes({
            "http.request.method": self.request.method or "",
            "url.scheme": self.request.protocol,
            "url.path": self.request.path,
            "http.route": route,
            "http.response.status_code": status,
            "snapshot.request_id": request_id(self.request),
        })  # fmt: skip
        for name, value in self.log_record().items():
            if name != "message" and isinstance(value, str | int | float | bool):
                span.set_attribute("error.type" if name == "error" else f"snapshot.{name}", value)
        if status >= 500:
            span.set_status(StatusCode.ERROR, self.error_code or str(status))

    def log_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {}
        if self.error_code:
            record["error"] = self.error_code
            record["message"] = self.error_message
        record.update(self.log_fields or {})
        if self.outcome:
            record["outcome"] = self.outcome
        return record

    def write_json(self, body: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message: str | None
        if isinstance(exc, SnapshotError):
            if exc.retry_after is not None:
                self.set_header("Retry-After", str(exc.retry_after))
            self.error_code, self.error_message, self.outcome = exc.code, exc.message, exc.outcome  # the log: all
            self.write_json(exc.body(), exc.status)
            return
        if isinstance(exc, tornado.web.HTTPError):
            status = exc.status_code
            code = _HTTP_CODES.get(status, "error" if status < 500 else "internal_error")
            message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            message = message or exc.reason or HTTPStatus(status).phrase
        else:
            status, code = status_code, _HTTP_CODES.get(status_code, "internal_error")
            message = HTTPStatus(status).phrase if status < 500 else "an unexpected error occurred"
        self.error_code = code
        self.error_message = message
        self.outcome = Outcome.INVALID if status < 500 else Outcome.INTERNAL
        self.write_json(error_body(code, message or ""), status)


def client_ip(request: tornado.httputil.HTTPServerRequest, forwarded_hops: int) -> str:
    """The client's address: the peer's, or behind ``forwarded_hops`` proxies that each append the address
    they saw to ``X-Forwarded-For``, the one the outermost of them added (the right-most ``hops``-th).
    What the client itself wrote further left, and ``X-Real-Ip``, are never trusted."""
    peer = request.remote_ip or "unknown"
    if forwarded_hops < 1:
        return peer
    chain = [part.strip() for part in ",".join(request.headers.get_list("X-Forwarded-For")).split(",")]
    chain = [part for part in chain if part]
    if not chain:
        return peer
    candidate = chain[-forwarded_hops] if len(chain) >= forwarded_hops else chain[0]
    return candidate if tornado.netutil.is_valid_ip(candidate) else peer


def trusted_base_url(request: tornado.httputil.HTTPServerRequest, public_base_url: str | None) -> str:
    """The base of URLs that others receive (a job's or monitor's webhook): ``SNAPSHOT_PUBLIC_BASE_URL``, else the
    address this connection reached - never the client's ``Host``, which would let one tenant send another's
    receiver signed events pointing at a host of its choosing."""
    if public_base_url:
        return public_base_url
    stream = request.connection.stream  # type: ignore[union-attr]
    host, port = stream.socket.getsockname()[:2]
    return f"{request.protocol}://{f'[{host}]' if ':' in host else host}:{port}"


def request_id(request: tornado.httputil.HTTPServerRequest) -> str:
    """The client's X-Request-ID when it is sane, else one made here (kept on the request)."""
    rid = getattr(request, "_snapshot_request_id", None)
    if rid is None:
        given = request.headers.get("X-Request-ID", "")
        rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        request._snapshot_request_id = rid  # type: ignore[attr-defined]
    return rid


class BaseHandler(JsonErrors):
    def initialize(self, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            setattr(self, name, value)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, SnapshotError):
            log.log(logging.WARNING if value.status >= 500 else logging.DEBUG, "%s: %s", value.code, value.message)
        elif isinstance(value, tornado.web.HTTPError) and value.status_code < 500:
            log.debug("%s %s: %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)


_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_JSON_TYPE = "application/json"


class ParamsHandler(BaseHandler):
    """A handler whose parameters come from the query, a form body or a JSON body.  Used with
    ``@tornado.web.stream_request_body``: the body is counted as it arrives, so an oversized one is
    refused with a 413 JSON answer, then parsed here like Tornado would."""

    _max_body = 0

    def _start_body(self, limit: int) -> None:
        """From ``prepare``: a declared size over ``limit`` is refused at once."""
        self._body = bytearray()
        self._received = 0
        self._max_body = limit
        declared = self.request.headers.get("Content-Length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise tornado.web.HTTPError(413, f"the request body is larger than {limit} bytes")

    def data_received(self, chunk: bytes) -> None:
        # a chunked body has no declared size: count it; raising here would drop the connection
        # without an answer, so the 413 is given once the body has been read
        self._received += len(chunk)
        if self._received <= self._max_body:
            self._body.extend(chunk)

    def _parse_body(self) -> None:
        if self._received > self._max_body:
            raise tornado.web.HTTPError(413, f"the request body is larger than {self._max_body} bytes")
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
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
            raise InvalidRequest("the body is not valid JSON", code="malformed_body") from None
        if not isinstance(body, dict):
            raise InvalidRequest("the JSON body must be an object of parameters", code="malformed_body")
        return body
