"""The OpenAPI 3.0 description of the service, served at ``/openapi.json``.  The capture parameters
come from the option model (``service/options.py``) and their limits from the settings, so the
document cannot drift from the parser.

It describes what a generated client can call: each status answers one kind of content.  GET answers
the file itself (``response_type`` image or empty) and POST where it is stored (json or empty); the
service also takes the other combinations (``docs/api.md``), which one typed client could not parse."""

from __future__ import annotations

import functools
import json
from dataclasses import Field
from typing import Any

from service import __version__
from service.answers import Accepted, DeviceList, ErrorBody, JobView, MonitorList, MonitorView, Stored, Usage, schema
from service.config import Settings
from service.images import MEDIA_TYPES
from service.monitoring import DEFAULT_THRESHOLD, MAX_EVERY, REFUSED
from service.options import FIELDS, Endpoint, kind, param
from service.params import PUBLISHED_PARAMS

_ERROR = {"$ref": "#/components/schemas/Error"}
_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}  # a job's or a monitor's


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


_ERRORS = {
    "400": _error(
        "Invalid parameters or body (`details` names each problem): a missing or malformed url, a scheme "
        "not http(s), sizes out of range, unknown or contradictory options, an unparseable body, the wrong "
        "content type, an output over the limits."
    ),
    "401": _error("An API key or a signed URL is required (only when SNAPSHOT_API_KEYS is set)."),
    "403": _error(
        "The target (or the webhook_url) resolves to an address captures may not reach, or localmode is refused."
    ),
    "405": _error("Method not allowed."),
    "413": _error("The request body is too large, or its html or markdown (SNAPSHOT_MAX_HTML_BYTES)."),
    "422": _error("A selector matched no visible element, or a script of the scripts option threw."),
    "424": _error("fail_on_http_error: the page's document answered 4xx or 5xx."),
    "429": _error(
        "Too many captures waiting, this client or its tenant over its limits, or the tenant over its quota "
        "(quota_exceeded); see Retry-After."
    ),
    "502": _error("The page could not be loaded (connection refused, TLS error...)."),
    "503": _error("No browser or storage available, or the service is shutting down; see Retry-After."),
    "504": _error("The capture did not finish before its deadline."),
}
# what each method's answer can be, of the choices the option model allows
_RESPONSE_TYPES = {"get": ("image", "empty"), "post": ("json", "empty")}


def _published(settings: Settings) -> list[tuple[str, bool, str, dict[str, Any]]]:
    """The published parameters (``params.PUBLISHED_PARAMS``): (name, required, description, schema), their
    limits the settings'."""
    rows = []
    for p in PUBLISHED_PARAMS:
        schema: dict[str, Any] = {"type": {str: "string", int: "integer", bool: "boolean"}[p.type]}
        if p.type is int:
            schema["minimum"] = 1
        if p.limit is not None:
            schema["maxLength" if p.type is str else "maximum"] = getattr(settings, p.limit)
        rows.append((p.name, p.required, p.help, schema))
    return rows


_SIGNED = [
    {"name": "expires", "in": "query", "required": False, "description": "Signed URLs: unix time it expires.",
     "schema": {"type": "string"}},
    {"name": "signature", "in": "query", "required": False,
     "description": "Signed URLs: hex HMAC-SHA256 of the sorted parameters.", "schema": {"type": "string"}},
]  # fmt: skip


def option_schema(f: Field[Any], method: str = "get") -> dict[str, Any]:
    meta = f.metadata
    scalar: dict[str, Any] = {"type": {"bool": "boolean", "int": "integer", "float": "number"}.get(kind(f), "string")}
    if meta["choices"]:
        allowed = _RESPONSE_TYPES[method] if param(f) == "response_type" else meta["choices"]
        scalar["enum"] = [choice for choice in meta["choices"] if choice in allowed]
    if meta["minimum"] is not None:
        scalar["minimum"] = meta["minimum"]
    if meta["maximum"] is not None:
        scalar["maximum"] = meta["maximum"]
    if kind(f) == "list":
        return {"type": "array", "items": scalar}
    return scalar


def _description(f: Field[Any]) -> str:
    unit = f" ({f.metadata['unit']})" if f.metadata["unit"] else ""
    return f"{f.metadata['help']}{unit} [{f.metadata['group']}]"


def _fields(endpoint: Endpoint) -> list[Field[Any]]:
    return [f for f in FIELDS if endpoint in f.metadata["endpoints"]]


def _parameters(endpoint: Endpoint, settings: Settings) -> list[dict[str, Any]]:
    # the url is required unless html or markdown is given instead: no parameter alone is required
    params = [
        {"name": name, "in": "query", "required": needed and endpoint is Endpoint.SNAP and name != "url",
         "description": text, "schema": schema}
        for name, needed, text, schema in _published(settings)
    ]  # fmt: skip
    for f in _fields(endpoint):
        entry: dict[str, Any] = {"name": param(f), "in": "query", "required": False, "description": _description(f),
                                 "schema": option_schema(f)}  # fmt: skip
        if kind(f) == "list":
            entry.update(style="form", explode=True)
        params.append(entry)
    return params


def _body(endpoint: Endpoint, settings: Settings) -> dict[str, Any]:
    required = ["width", "height"] if endpoint is Endpoint.SNAP else []
    properties = {name: {**schema, "description": text} for name, _, text, schema in _published(settings)}
    properties |= {param(f): {**option_schema(f, "post"), "description": _description(f)} for f in _fields(endpoint)}
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:  # and one of url, html and markdown (the url's description says so)
        schema["required"] = required
    return {
        "required": False,
        "content": {
            "application/json": {"schema": schema},
            "multipart/form-data": {"schema": schema},
            "application/x-www-form-urlencoded": {"schema": schema},
        },
    }


_STORED = schema(Stored)
_ACCEPTED = schema(Accepted)
_JOB = schema(JobView)


def _operations(endpoint: Endpoint, settings: Settings) -> dict[str, Any]:
    if endpoint is Endpoint.SNAP:
        what, media = "image", ["image/png", "image/jpeg", "image/webp"]
    elif endpoint is Endpoint.PDF:
        what, media = "PDF", ["application/pdf"]
    else:
        what, media = "content", [MEDIA_TYPES[f].split(";")[0] for f in ("html", "text", "markdown")]
    binary = {"schema": {"type": "string", "format": "binary"}}
    answers = {
        "202": {
            "description": "async=true: the job is queued; see its status_url.",
            "content": {"application/json": {"schema": _ACCEPTED}},
        },
        "204": {"description": "response_type=empty: captured; the metadata is in X-Snapshot-* headers."},
    }
    return {
        "get": {
            "summary": f"Capture a page and return the {what}",
            "parameters": _parameters(endpoint, settings) + _SIGNED,
            "responses": {
                "200": {"description": f"The {what}.", "content": dict.fromkeys(media, binary)},
                **answers,
                "304": {"description": "If-None-Match: the client already has this picture (its ETag)."},
                **_ERRORS,
            },
        },
        "post": {
            "summary": f"Capture a page, store the {what} and return its URL",
            "requestBody": _body(endpoint, settings),
            "responses": {
                "200": {"description": "Where it is stored.", "content": {"application/json": {"schema": _STORED}}},
                **answers,
                **_ERRORS,
            },
        },
    }


_PLAIN_JSON = {"description": "Status.", "content": {"application/json": {"schema": {"type": "object"}}}}


_MONITOR = schema(MonitorView)
_MONITOR_ID = [
    {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
]
_NO_MONITOR = _error("No such monitor (or not this API key's).")


def _monitors(settings: Settings) -> dict[str, Any]:
    """``/monitors``: the body is a capture's JSON body (but what a job's run cannot have) and the monitor's own."""
    capture = _body(Endpoint.SNAP, settings)["content"]["application/json"]["schema"]
    properties = {k: v for k, v in capture["properties"].items() if k not in REFUSED}
    properties |= {
        "every": {"type": "integer", "minimum": settings.monitor_min_interval, "maximum": MAX_EVERY,
                  "description": "Seconds between runs."},
        "threshold": {"type": "number", "minimum": 0, "maximum": 1, "exclusiveMaximum": True,
                      "default": DEFAULT_THRESHOLD,
                      "description": "The share of changed pixels that counts as a change."},
        "name": {"type": "string", "minLength": 1, "maxLength": 100, "description": "Default: the target's host."},
        "webhook_url": {"type": "string", "description": "Where monitor.changed and monitor.failed are sent."},
    }  # fmt: skip
    body = {**capture, "properties": properties, "required": [*capture["required"], "every"]}
    listed = {"description": "The caller's monitors.", "content": {"application/json": {"schema": schema(MonitorList)}}}
    one = {"description": "The monitor.", "content": {"application/json": {"schema": _MONITOR}}}
    return {
        "/monitors": {
            "get": {"summary": "The caller's visual monitors", "responses": {"200": listed, "401": _ERRORS["401"]}},
            "post": {
                "summary": "A visual monitor: the page captured every `every` seconds, compared with its last capture",
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {
                    "201": one, **{k: _ERRORS[k] for k in ("400", "401", "403", "413")},
                    "409": _error("The caller has a monitor of that name, or the service SNAPSHOT_MAX_MONITORS."),
                },
            },
        },
        "/monitors/{id}": {
            "get": {"summary": "A monitor and its last run", "parameters": _MONITOR_ID,
                    "responses": {"200": one, "401": _ERRORS["401"], "404": _NO_MONITOR}},
            "delete": {"summary": "Delete a monitor", "parameters": _MONITOR_ID,
                       "responses": {"204": {"description": "Deleted."}, "401": _ERRORS["401"], "404": _NO_MONITOR}},
        },
        "/monitors/{id}/run": {
            "post": {"summary": "Run a monitor now (its result shows in GET /monitors/{id})", "parameters": _MONITOR_ID,
                     "responses": {"202": one, "401": _ERRORS["401"], "404": _NO_MONITOR}},
        },
    }  # fmt: skip


def document(settings: Settings) -> dict[str, Any]:
    """The document for a service with ``settings``."""
    return {**_DOCUMENT, "paths": {
        **{endpoint.path: _operations(endpoint, settings) for endpoint in Endpoint},
        **_monitors(settings),
        **_DOCUMENT["paths"],
    }}  # fmt: skip


_DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Snapshot API",
        "version": __version__,
        "description": "Screenshots and PDFs of web pages: GET returns the file, POST stores it and returns its URL. "
        "Parameters are the same in the query string, in form bodies and in a JSON body.",
    },
    "paths": {
        "/jobs/{id}": {
            "get": {
                "summary": "An async job: its state, result or error, and its webhook attempts",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}],
                "responses": {
                    "200": {"description": "The job.", "content": {"application/json": {"schema": _JOB}}},
                    "401": _ERRORS["401"],
                    "404": _error("No such job (or not this API key's; finished jobs are kept for SNAPSHOT_JOB_TTL)."),
                },
            }
        },
        "/devices": {
            "get": {
                "summary": "The devices the device option names (Playwright's registry)",
                "responses": {
                    "200": {
                        "description": "The devices.",
                        "content": {"application/json": {"schema": schema(DeviceList)}},
                    }
                },
            }
        },
        "/usage": {
            "get": {
                "summary": "The calling tenant's own limits, quota left, usage and webhook secret (docs/tenants.md)",
                "responses": {
                    "200": {"description": "Its usage.", "content": {"application/json": {"schema": schema(Usage)}}},
                    "401": _ERRORS["401"],
                },
            }
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _PLAIN_JSON}}},
        "/readyz": {
            "get": {"summary": "Readiness, per dependency", "responses": {"200": _PLAIN_JSON, "503": _PLAIN_JSON}}
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _PLAIN_JSON}}},
    },
    "components": {"schemas": {"Error": schema(ErrorBody)}},
}


@functools.cache
def served(settings: Settings) -> bytes:
    """The document as ``/openapi.json`` serves it, made once per settings."""
    return json.dumps(document(settings)).encode()
