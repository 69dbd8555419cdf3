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
import tornado.web

from service.capture import Outcome
from service.errors import SnapshotError

log = logging.getLogger("snapshot.http")

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
            status, code, message = exc.status, exc.code, exc.message
            if exc.retry_after is not None:
                self.set_header("Retry-After", str(exc.retry_after))
        elif isinstance(exc, tornado.web.HTTPError):
            status = exc.status_code
            code = _HTTP_CODES.get(status, "error" if status < 500 else "internal_error")
            message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            message = message or exc.reason or HTTPStatus(status).phrase
        else:
            status, code = status_code, _HTTP_CODES.get(status_code, "internal_error")
            message = HTTPStatus(status).phrase if status < 500 else "an unexpected error occurred"
        self.error_code = code
        self.error_message = message
        if isinstance(exc, SnapshotError):
            self.outcome = exc.outcome
        else:
            self.outcome = Outcome.INVALID if status < 500 else Outcome.INTERNAL
        body: dict[str, Any] = {"status": "error", "error": code, "message": message}
        if isinstance(exc, SnapshotError) and exc.details:
            body["details"] = exc.details
        self.write_json(body, status)


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
