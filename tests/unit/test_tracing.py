"""Tracing in-process: what turns it on, what spans say (and never say), and the spans of a request through the
app with fake browsers, recorded by the SDK's in-memory exporter.  The same with a real OTLP receiver, Grid and
Prometheus: ``tests/integration/test_tracing.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

from service import tracing
from service.capture import Phase, Timings
from service.errors import CaptureTimeout
from tests.support import PAGE, ROOT, params


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory, for one test."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_traces_are_on_only_when_an_endpoint_is_named(environ, wanted):
    assert tracing.wanted(environ) is wanted


def test_without_an_endpoint_nothing_is_made():
    assert not tracing.configure("1.0", {}) and not tracing.enabled()
    with tracing.span("anything") as span:
        assert span is None
    assert tracing.inject({}) == {} and tracing.carrier() == {} and tracing.ids() is None
    assert (
        tracing.exemplar() is None and tracing.links({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) == []
    )


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("host", "https://example.com:8443"),
        ("path", "https://example.com:8443/a/b"),
        ("full", "https://example.com:8443/a/b?q=1"),
    ],
)
def test_a_target_url_says_no_more_than_allowed_and_never_credentials(detail, expected):
    assert tracing.target_url("https://user:pw@Example.com:8443/a/b?q=1#frag", detail) == expected
    assert tracing.target_url("http://[::1]/", "path") == "http://[::1]/"


def test_each_phase_is_a_span_of_the_current_trace_and_errors_carry_their_code_only(spans):
    timings = Timings()
    with tracing.span("request") as request:
        assert request is not None
        with timings.measure(Phase.NAVIGATE):
            pass
        timings.add(Phase.QUEUE, 0.25)
        with pytest.raises(CaptureTimeout), timings.measure(Phase.WAIT):
            raise CaptureTimeout("waited for https://secret.example/?token=1")
    found = by_name(spans)
    root = found["request"].context.span_id
    assert {found[p].parent.span_id for p in ("navigate", "queue", "wait")} == {root}  # type: ignore[union-attr]
    queue = found["queue"]
    assert abs((queue.end_time - queue.start_time) / 1e9 - 0.25) < 0.01  # type: ignore[operator]
    wait = found["wait"]
    assert not wait.status.is_ok and wait.attributes == {"error.type": "timeout"}
    assert not wait.events  # the message (it may quote the target) is not recorded
    assert set(timings.seconds) == {Phase.NAVIGATE, Phase.QUEUE, Phase.WAIT}


def test_ids_and_exemplars_name_sampled_traces_only(spans, monkeypatch):
    with tracing.span("sampled"):
        trace_id, span_id = tracing.ids() or ("", "")
        assert tracing.exemplar() == {"trace_id": trace_id, "span_id": span_id} and len(trace_id) == 32
        carried = tracing.carrier()
    assert carried["traceparent"].startswith(f"00-{trace_id}-{span_id}-")
    [link] = tracing.links(carried)
    assert (link.context.trace_id, link.context.span_id) == (int(trace_id, 16), int(span_id, 16))
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    with tracing.span("dropped"):
        assert tracing.ids() is not None and tracing.exemplar() is None  # logged, but no exemplar to open


def test_a_request_through_the_app_is_a_server_span_continuing_the_caller(spans, app):
    service = app()
    caller = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    response = service.fetch("/create_snap", params=params(url=PAGE + "?key=hidden"),
                             headers={"traceparent": caller})  # fmt: skip
    assert response.code == 200
    assert service.fetch("/healthz").code == 200  # probes are not traced
    found = by_name(spans)
    server = found["GET /create_snap"]
    assert server.context.trace_id == int("a" * 32, 16) and server.parent.span_id == int("b" * 16, 16)  # type: ignore[union-attr]
    assert server.attributes["http.response.status_code"] == 200  # type: ignore[index]
    assert server.attributes["snapshot.outcome"] == "success"  # type: ignore[index]
    assert "snapshot.target_url" not in server.attributes  # type: ignore[operator]
    assert {"check", "queue", "session", "navigate", "screenshot"} <= set(found)
    assert not any("/healthz" in name for name in found)
    assert "hidden" not in str([dict(s.attributes or {}) for s in spans.get_finished_spans()])


def test_the_dashboards_latency_panels_show_exemplars():
    dashboard = json.loads((ROOT / "deploy" / "helm" / "snapshot" / "files" / "snapshot-dashboard.json").read_text())
    latency = [t for p in dashboard["panels"] for t in p.get("targets", []) if "_seconds_bucket" in t["expr"]]
    assert len(latency) >= 5 and all(t.get("exemplar") is True for t in latency)
