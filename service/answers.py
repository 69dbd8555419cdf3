"""The JSON answers of the API as typed models: the handlers and the job runner build them, and the
OpenAPI document derives their schemas from the same classes (``schema``), so neither can drift.

A field whose value is None is left out of the JSON (optional), unless its metadata says ``nullable``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

# what a capture found, in a JSON answer with metadata=true (``delivery.results.Result.metadata``)
Format = Literal["png", "jpeg", "webp", "pdf", "html", "text", "markdown"]


def _doc(text: str, **extra: Any) -> Any:
    return field(default=None, metadata={"description": text, **extra})


@dataclass
class ConsoleMessage:
    level: Literal["log", "info", "debug", "warning", "error"]
    text: str


@dataclass
class FailedRequest:
    url: str
    status: int | None = _doc("The HTTP status of a 4xx/5xx answer.")
    error: str | None = _doc("The network error of a request that got no answer (e.g. net::ERR_CONNECTION_REFUSED).")


@dataclass
class Stored:
    """Where the result is stored; with metadata=true also what the capture found."""

    file_url: str
    status: Literal["success"] = "success"
    final_url: str | None = None
    http_status: int | None = _doc("The document's HTTP status (0: unknown).")
    page_title: str | None = None
    image_width: int | None = None
    image_height: int | None = None
    page_height: int | None = _doc("CSS pixels of the whole page.")
    format: Format | None = None
    bytes: int | None = None
    render_ms: int | None = None
    truncated: bool | None = None
    blocked_requests: int | None = _doc("Requests of the page the capture blocked (ads, trackers, block_* rules).")
    console: list[ConsoleMessage] | None = _doc("What the page logged and its uncaught errors (at most 100).")
    failed_requests: list[FailedRequest] | None = _doc(
        "Requests that failed or answered 4xx/5xx (at most 100): URL, and status or network error."
    )
    content: str | None = _doc("/create_content with response_type=json: the content itself.")
    cache: Literal["hit", "miss"] | None = None
    request_id: str | None = None


@dataclass
class Accepted:
    """async=true: the job is queued; see its status_url."""

    id: str
    status_url: str
    status: Literal["queued"] = "queued"
    external_id: str | None = None


@dataclass
class ErrorDetail:
    parameter: str | None = None
    error: str | None = _doc("This problem's own code.")
    message: str | None = None


@dataclass
class ErrorBody:
    error: str = field(metadata={"description": "A stable, machine-readable code."})
    message: str
    status: Literal["error"] = "error"
    details: list[ErrorDetail] | None = _doc("Validation errors: each parameter and what is wrong with it.")
    evidence_url: str | None = _doc(
        "evidence=true: a screenshot of the page as it was when the capture failed (504, 422, 424)."
    )


@dataclass
class Webhook:
    state: Literal["pending", "delivered", "failed"]
    attempts: list[dict[str, Any]]


@dataclass
class JobView:
    """An async job as GET /jobs/{id} and its webhook show it."""

    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    status_url: str
    created_at: str = field(metadata={"format": "date-time"})
    started_at: str | None = field(default=None, metadata={"format": "date-time", "nullable": True})
    finished_at: str | None = field(default=None, metadata={"format": "date-time", "nullable": True})
    external_id: str | None = None
    result: Stored | None = None
    error: ErrorBody | None = None
    webhook: Webhook | None = None


@dataclass
class MonitorRun:
    """A monitor's last run, compared with the one before that succeeded."""

    at: str = field(metadata={"format": "date-time"})
    outcome: Literal["success", "failed"]
    changed: bool = field(metadata={"description": "diff_ratio above the monitor's threshold."})
    diff_ratio: float | None = field(
        default=None,
        metadata={"nullable": True, "description": "Share of the pixels that changed (none on a first or failed run)."},
    )
    file_url: str | None = field(default=None, metadata={"nullable": True})
    diff_url: str | None = field(default=None, metadata={
        "nullable": True, "description": "The capture faded, its changed pixels in red."})  # fmt: skip
    error: ErrorBody | None = None


@dataclass
class MonitorView:
    """A visual monitor as its owner and its webhooks see it."""

    id: str
    name: str
    every: int = field(metadata={"description": "Seconds between runs."})
    threshold: float = field(metadata={"description": "The share of changed pixels that counts as a change."})
    capture: dict[str, Any] = field(metadata={"description": "The capture's parameters (never its secret ones)."})
    created_at: str = field(metadata={"format": "date-time"})
    runs: int
    failures: int = field(metadata={"description": "Failed runs since the last success."})
    webhook_url: str | None = None
    last_run: MonitorRun | None = field(default=None, metadata={"nullable": True})


@dataclass
class MonitorList:
    monitors: list[MonitorView]


@dataclass
class UsageFigures:
    scope: str = field(metadata={"description": "Where these figures come from (this replica since it started)."})
    captures: dict[str, int] = field(metadata={"description": "Capture requests by outcome."})
    browser_seconds: float = field(metadata={"description": "Seconds its captures held a browser tab."})
    bytes: int = field(metadata={"description": "Bytes of images and PDFs delivered."})


@dataclass
class TenantLimits:
    max_in_flight: int
    rate: float
    burst: int
    allow_scripts: bool
    allow_networks: list[str]


@dataclass
class QuotaView:
    captures: int
    per: Literal["minute", "hour", "day"]
    used: int
    left: int
    resets_at: int = field(metadata={"description": "Unix time the window ends."})
    shared: bool = field(metadata={"description": "Counted across replicas (Redis)."})


@dataclass
class Usage:
    """GET /usage: the calling tenant's own limits, quota left, usage and webhook secret."""

    usage: UsageFigures
    tenant: str | None = field(default=None, metadata={"nullable": True, "description": "None: not a named tenant."})
    limits: TenantLimits | None = None
    quota: QuotaView | None = None
    webhook_secret: str | None = _doc("The secret its webhooks are signed with.")


@dataclass
class DeviceView:
    name: str
    user_agent: str
    width: int = field(metadata={"description": "The viewport's width: the capture's default width."})
    height: int
    scale: float = field(metadata={"description": "Device pixels per CSS pixel."})
    mobile: bool
    touch: bool


@dataclass
class DeviceList:
    """GET /devices: what the device option takes (Playwright's registry)."""

    source: str = field(
        metadata={"description": "Where the registry comes from (npm playwright-core and its version)."}
    )
    devices: list[DeviceView]


def error_of(body: dict[str, Any], evidence_url: str | None = None) -> ErrorBody:
    """An error body (``errors.error_body``, as a job keeps it) as its model, with the URL of its evidence."""
    details = [ErrorDetail(**d) for d in body["details"]] if body.get("details") else None
    return ErrorBody(body["error"], body["message"], details=details, evidence_url=evidence_url)


def to_json(answer: Any) -> dict[str, Any]:
    """The answer as JSON: fields that are None left out, unless nullable."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(answer):
        value = getattr(answer, f.name)
        if value is None and not f.metadata.get("nullable"):
            continue
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = to_json(value)
        elif isinstance(value, list):
            value = [to_json(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v for v in value]
        out[f.name] = value
    return out


def _type_schema(annotation: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return _type_schema(inner)
    if origin is Literal:
        return {"type": "string", "enum": list(args)}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin is dict:
        return {"type": "object"}
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return schema(annotation)
    return {"type": {str: "string", int: "integer", bool: "boolean", float: "number"}[annotation]}


def schema(model: type) -> dict[str, Any]:
    """The JSON Schema (OpenAPI 3.0) of an answer model."""
    hints = typing.get_type_hints(model)
    properties: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(model):
        prop = _type_schema(hints[f.name])
        prop |= {key: value for key, value in f.metadata.items() if key in ("description", "format", "nullable")}
        properties[f.name] = prop
        optional = f.default is None or f.metadata.get("nullable")
        if not optional:
            required.append(f.name)
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:  # OpenAPI 3.0: a required list is never empty
        out["required"] = required
    if model.__doc__ and not model.__doc__.startswith(model.__name__ + "("):
        out["description"] = model.__doc__.splitlines()[0]
    return out
