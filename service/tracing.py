"""OpenTelemetry traces: a span per request, one per phase of its capture, per job and per webhook attempt.

Configured the standard way, by the ``OTEL_*`` environment variables the SDK reads itself
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_SERVICE_NAME``,
``OTEL_TRACES_SAMPLER`` and ``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``...),
exported as OTLP over HTTP.  With no endpoint (or ``OTEL_SDK_DISABLED=true``, or ``OTEL_TRACES_EXPORTER=none``)
nothing is set up: every helper here returns at its first line, and no span object is made.

The context travels as contextvars: a request's span is current in the task that runs its handler
(``service.web.JsonErrors``), capture workers run in a copy of the submitting task's context
(``service.browsers.backend``), so the phases they time (``service.capture.Timings``) and the Grid calls
they make (``inject``) are its children.  What spans say about a request is listed in
docs/observability.md: never API keys, cookies, headers or bodies; target URLs only as far as
``SNAPSHOT_TRACE_TARGET_URLS`` allows.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, StatusCode, Tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("snapshot.tracing")

TARGET_URL_DETAIL = ("host", "path", "full")  # SNAPSHOT_TRACE_TARGET_URLS
Attributes = Mapping[str, str | int | float | bool]

_tracer: Tracer | None = None  # None: tracing is off
_provider: TracerProvider | None = None


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the environment asks for traces: an OTLP endpoint, and neither the SDK nor its exporter off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return False
    return bool(environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure(version: str, environ: Mapping[str, str] | None = None) -> bool:
    """Starts exporting spans when the environment asks for it (see ``wanted``); True if it does."""
    global _tracer, _provider
    environ = os.environ if environ is None else environ
    if not wanted(environ):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes: dict[str, str] = {SERVICE_VERSION: version}
    if not environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = "snapshot"  # OTEL_SERVICE_NAME (and OTEL_RESOURCE_ATTRIBUTES) win
    _provider = TracerProvider(resource=Resource.create(attributes))  # the sampler: OTEL_TRACES_SAMPLER
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer = _provider.get_tracer("snapshot", version)
    log.info("tracing: spans exported over OTLP/HTTP")
    return True


def shutdown() -> None:
    """Exports what is left and stops (at the end of the drain)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer, _provider = None, None


def enabled() -> bool:
    return _tracer is not None


@contextmanager
def span(
    name: str,
    attributes: Attributes | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    links: list[Link] | None = None,
    root: bool = False,
) -> Iterator[Span | None]:
    """A span around the block, current inside it (None, and nothing made, when tracing is off).  ``root``:
    it starts a trace of its own (a job: linked, not a child, to what submitted it)."""
    if _tracer is None:
        yield None
        return
    context = Context() if root else None
    with _tracer.start_as_current_span(
        name, context, kind, attributes, links, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except BaseException as exc:
            failed(current, exc)
            raise


def failed(current: Span, exc: BaseException) -> None:
    """The span ended with ``exc``: its status and ``error.type`` say what (the error's code, never its message:
    messages may quote what the client sent)."""
    code = getattr(exc, "code", None)
    error_type = code if isinstance(code, str) else type(exc).__name__
    current.set_attribute("error.type", error_type)
    current.set_status(StatusCode.ERROR, error_type)


def record(name: str, seconds: float, attributes: Attributes | None = None) -> None:
    """A child of the current span that ended now after ``seconds`` (a phase timed as a sum: the queue)."""
    if _tracer is None:
        return
    end = time.time_ns()
    _tracer.start_span(name, attributes=attributes, start_time=end - int(seconds * 1e9)).end(end_time=end)


@contextmanager
def server_span(name: str, headers: Mapping[str, str]) -> Iterator[Span | None]:
    """The span of a request the service answers, continuing the caller's ``traceparent`` and ``tracestate``."""
    if _tracer is None:
        yield None
        return
    parent = propagate.extract(headers)
    with _tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, record_exception=False, set_status_on_exception=False
    ) as current:
        yield current


def inject(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """``headers`` with the current context (``traceparent``, ``tracestate``) added, for a call the service makes."""
    if _tracer is not None:
        propagate.inject(headers)
    return headers


def carrier() -> dict[str, str]:
    """The current context as headers, kept with an async job to link its run to the request that submitted it."""
    return dict(inject({})) if _tracer is not None else {}


def links(headers: Mapping[str, str] | None) -> list[Link]:
    """A link to the span ``headers`` (a ``carrier``) name, if any."""
    if _tracer is None or not headers:
        return []
    context = trace.get_current_span(propagate.extract(headers)).get_span_context()
    return [trace.Link(context)] if context.is_valid else []


def annotate(attributes: Mapping[str, Any]) -> None:
    """Attributes of the current span (None values left out)."""
    if _tracer is None:
        return
    trace.get_current_span().set_attributes({k: v for k, v in attributes.items() if v is not None})


def ids(sampled_only: bool = False) -> tuple[str, str] | None:
    """The current span's trace and span id in hex (for the request log; ``sampled_only``: for exemplars,
    which only help when the trace was kept)."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or (sampled_only and not context.trace_flags.sampled):
        return None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def exemplar() -> dict[str, str] | None:
    """The labels of a Prometheus exemplar pointing at the current trace (sampled ones only)."""
    found = ids(sampled_only=True)
    return {"trace_id": found[0], "span_id": found[1]} if found else None


def target_url(url: str, detail: str) -> str:
    """What a span says of a target URL: its origin (``host``), with its path (``path``) or its query too
    (``full``); never credentials or the fragment."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    path = parts.path or "/" if detail in ("path", "full") else ""
    return urlunsplit((parts.scheme, netloc, path, parts.query if detail == "full" else "", ""))
