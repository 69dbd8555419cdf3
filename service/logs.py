"""Logging: one JSON object per line on stderr, and one access-log line per request.

The access log helps at 3 a.m.: its level follows the status (probes at debug), it carries the
request id, the error code and message, the capture's outcome, backend and per-phase timings, and
never the query string (it holds target URLs and signatures)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import tornado.web

from service import tracing
from service.metrics import Metrics
from service.web import PROBE_PATHS, JsonErrors, client_ip, request_id

access_log = logging.getLogger("snapshot.access")

_QUIET = ("tornado.access", "urllib3", "selenium", "botocore", "boto3", "websocket")


def _level(path: str, status: int) -> int:
    if path in PROBE_PATHS and status < 500:
        return logging.DEBUG
    if status >= 500:
        return logging.ERROR
    if status >= 400:
        return logging.WARNING
    return logging.INFO


def request_logger(metrics: Metrics, forwarded_hops: int = 0) -> Callable[[tornado.web.RequestHandler], None]:
    """Tornado's ``log_function``: counts the request, then logs it."""

    def log_request(handler: tornado.web.RequestHandler) -> None:
        request = handler.request
        status = handler.get_status()
        ours = handler if isinstance(handler, JsonErrors) else None
        metrics.observe_request(ours.handler_name if ours else "not_found", request.method or "", status)
        level = _level(request.path, status)
        if not access_log.isEnabledFor(level):
            return
        record: dict[str, Any] = {
            "request_id": request_id(request),
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round(1000 * request.request_time(), 1),
            "remote_ip": client_ip(request, forwarded_hops),
        }
        if ours is not None:
            record.update(ours.log_record())
        found = tracing.ids()  # the request's span: its trace in Tempo, from this line in Loki
        if found is not None:
            record["trace_id"], record["span_id"] = found
        access_log.log(level, json.dumps(record))

    return log_request


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        base: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.name == access_log.name and message.startswith("{"):
            base.update(json.loads(message))
        else:
            base["message"] = message
        if record.exc_info:
            base["exception"] = self.formatException(record.exc_info)
        return json.dumps(base)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in _QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
