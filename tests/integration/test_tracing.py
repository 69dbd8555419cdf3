"""Traces, proven with a real OTLP receiver (``tests/otlp.py`` decodes what the service's exporter sends), a real
Grid whose hub logs the spans it continues, and a real Prometheus keeping the exemplars that point at them."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.otlp import OtlpReceiver, Span, children
from tests.servers import WEBHOOK_ENV, Grid, Service, start_grid, start_prometheus, start_service, wait_until
from tests.support import LOOPBACK

pytestmark = pytest.mark.integration

PHASES = {"check", "queue", "session", "navigate", "wait", "screenshot"}


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def logging_grid() -> Iterator[Grid]:
    """A Grid of its own whose hub logs its spans (FINE): what it continued shows there."""
    grid = start_grid(nodes=1, max_sessions=1, hub_log_level="FINE")
    yield grid
    grid.stop()


@pytest.fixture(scope="module")
def traced(otlp: OtlpReceiver, logging_grid: Grid) -> Iterator[Service]:
    service = start_service({
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_SERVICE_NAME": "snapshot-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "SNAPSHOT_GRID_URL": logging_grid.url,
        "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
        "SNAPSHOT_POOL_SIZE": "1",
        "SNAPSHOT_LOCAL_POOL_SIZE": "1",
        "SNAPSHOT_SESSION_MAX_USES": "1",  # every capture ends its session: the Grid's DELETE in its trace
        "SNAPSHOT_TRACE_TARGET_URLS": "path",
        **WEBHOOK_ENV,
        "SNAPSHOT_WEBHOOK_BACKOFF": "0.2",
    })  # fmt: skip
    yield service
    assert service.stop() == 0


def traceparent() -> tuple[str, str, str]:
    """A caller's trace id, span id, and the header naming them (sampled)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def traced_snap(service: Service, url: str, width: int, height: int, sampled: bool = True,
                **params: str) -> tuple[str, requests.Response]:  # fmt: skip
    """A GET /create_snap of ``url`` continuing a new caller's trace; its trace id and the answer."""
    trace_id, span_id, _ = traceparent()
    header = f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"
    response = requests.get(f"{service.url}/create_snap", params={"url": url, "width": width, "height": height,
                            **params}, headers={"traceparent": header}, timeout=60)  # fmt: skip
    return trace_id, response


def server_span(otlp: OtlpReceiver, trace_id: str, path: str, phases: set[str] = PHASES) -> tuple[Span, list[Span]]:
    """The service's span of the request in ``trace_id``, once it and the phases of its capture arrived."""

    def arrived(spans: list[Span]) -> bool:
        ours = [s for s in spans if s.trace_id == trace_id]
        server = [s for s in ours if s.kind == "SERVER" and s.attributes.get("url.path") == path]
        return bool(server) and phases <= {s.name for s in children(ours, server[0])}

    spans = [s for s in otlp.wait_for(arrived) if s.trace_id == trace_id]
    return next(s for s in spans if s.kind == "SERVER"), spans


def log_line(service: Service, request_id: str) -> dict:
    """The request's line of the service's log (written once the answer is sent: waited for)."""

    def found() -> list[dict]:
        lines = service.proc.log_path.read_text(errors="replace").splitlines()
        return [
            r for r in map(json.loads, filter(lambda x: x.startswith("{"), lines)) if r.get("request_id") == request_id
        ]

    wait_until(lambda: bool(found()), 10, "the request's log line")
    return found()[0]


def test_a_capture_continues_the_callers_trace_with_its_phases_into_the_grid(traced, otlp, logging_grid, pages):
    trace_id, caller, header = traceparent()
    secret_query = "token=" + secrets.token_hex(6)
    response = requests.get(
        f"{traced.url}/create_snap",
        params={"url": f"{pages.base}/quadrants?{secret_query}", "width": 400, "height": 300},
        headers={"traceparent": header, "tracestate": "caller=1", "Cookie": "session=hidden-cookie"},
        timeout=60,
    )
    assert response.status_code == 200
    span, spans = server_span(otlp, trace_id, "/create_snap")
    # the caller's span is its parent; the request's span says what it did, in the log's words
    assert span.parent_id == caller and span.name == "GET /create_snap" and span.service == "snapshot-under-test"
    a = span.attributes
    assert a["http.response.status_code"] == 200 and a["http.route"] == "/create_snap"
    assert a["snapshot.outcome"] == "success" and a["snapshot.backend"] == "grid" and a["snapshot.size"] == "400x300"
    assert a["snapshot.target_host"] == "127.0.0.1"
    assert a["snapshot.target_url"] == f"{pages.base}/quadrants"  # SNAPSHOT_TRACE_TARGET_URLS=path: no query
    assert a["snapshot.request_id"] == response.headers["X-Request-ID"]
    # a span per phase, within the request's
    phases = {s.name: s for s in children(spans, span)}
    assert set(phases) >= PHASES
    for phase in PHASES:
        assert span.start <= phases[phase].start <= phases[phase].end <= span.end + 1_000_000, phase
    # never the query, the cookie or any header in any span of the trace
    said = json.dumps([s.attributes for s in spans])
    assert secret_query not in said and "hidden-cookie" not in said and "caller=1" not in said
    # the request's log line names the span
    line = log_line(traced, response.headers["X-Request-ID"])
    assert (line["trace_id"], line["span_id"]) == (trace_id, span.span_id)
    # the Grid continued the trace: its hub's spans have one of the capture's spans as parent (the session's
    # DELETE after the capture, SNAPSHOT_SESSION_MAX_USES=1; the new session of the next capture)
    ours = {s.span_id for s in spans}

    def continued() -> set[str]:
        log = logging_grid.hub.log_path.read_text(errors="replace")
        pattern = rf"parentSpanContext=ImmutableSpanContext\{{traceId={trace_id}, spanId=([0-9a-f]{{16}})"
        return set(re.findall(pattern, log)) & ours

    wait_until(lambda: bool(continued()), 15, "the hub's spans of this trace")


def test_a_new_session_opened_for_a_capture_joins_its_trace(traced, otlp, logging_grid, pages):
    """Each session serves one capture (SNAPSHOT_SESSION_MAX_USES=1) and only start-up warms one ahead: the second
    capture here opens its own, and the Grid's POST /session continues its "session" span."""
    for _ in range(2):
        trace_id, response = traced_snap(traced, f"{pages.base}/quadrants", 200, 200)
        assert response.status_code == 200
        span, spans = server_span(otlp, trace_id, "/create_snap")
    session = next(s for s in children(spans, span) if s.name == "session")
    parent = f"parentSpanContext=ImmutableSpanContext{{traceId={trace_id}, spanId={session.span_id}"
    wait_until(lambda: parent in logging_grid.hub.log_path.read_text(errors="replace"), 15, "the new session's span")


def test_a_post_traces_its_upload_and_the_local_backend_its_phases(traced, otlp, pages):
    trace_id, _, header = traceparent()
    response = requests.post(
        f"{traced.url}/create_snap",
        data={"url": pages.base + "/quadrants", "width": "120", "height": "90", "localmode": "true"},
        headers={"traceparent": header},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    span, spans = server_span(otlp, trace_id, "/create_snap", PHASES | {"upload"})
    assert span.name == "POST /create_snap" and span.attributes["snapshot.backend"] == "local"


def test_errors_are_marked_without_their_messages(traced, otlp):
    trace_id, response = traced_snap(traced, "http://10.1.2.3/private-path", 100, 100)
    assert response.status_code == 403
    spans = otlp.wait_for(lambda found: any(s.trace_id == trace_id and s.kind == "SERVER" for s in found))
    span = next(s for s in spans if s.trace_id == trace_id and s.kind == "SERVER")
    error = response.json()
    assert span.attributes["error.type"] == error["error"] and span.attributes["snapshot.outcome"] == "blocked"
    assert not span.error  # a client's error is not the server's (HTTP server span conventions)
    values = [v for s in spans if s.trace_id == trace_id for v in s.attributes.values()]
    assert error["message"] not in values


def test_a_job_is_a_trace_linked_to_the_request_that_submitted_it_with_its_webhook_attempts(
    traced, otlp, pages, receiver
):
    hook = receiver(fail_first=1)
    trace_id, _, header = traceparent()
    query = {"url": pages.base + "/quadrants", "width": 100, "height": 80, "async": "true", "webhook_url": hook.url}
    response = requests.get(f"{traced.url}/create_snap", params=query, headers={"traceparent": header}, timeout=30)
    assert response.status_code == 202
    submit = otlp.wait_for(lambda found: any(s.trace_id == trace_id and s.kind == "SERVER" for s in found))
    submitted = next(s for s in submit if s.trace_id == trace_id and s.kind == "SERVER")
    job_id = response.json()["id"]

    def job_done(spans: list[Span]) -> bool:
        jobs = [s for s in spans if s.name == "job" and s.attributes.get("snapshot.job") == job_id]
        return bool(jobs) and len([s for s in children(spans, jobs[0]) if s.name == "webhook"]) == 2

    spans = otlp.wait_for(job_done, timeout=60)
    job = next(s for s in spans if s.name == "job" and s.attributes.get("snapshot.job") == job_id)
    assert job.kind == "CONSUMER" and job.parent_id == "" and job.trace_id != trace_id  # a trace of its own...
    assert job.links == [(trace_id, submitted.span_id)]  # ...linked to the request that submitted it
    assert job.attributes["snapshot.job.status"] == "succeeded"
    inside = children(spans, job)
    assert PHASES | {"upload"} <= {s.name for s in inside}
    attempts = sorted((s for s in inside if s.name == "webhook"), key=lambda s: s.start)
    assert [s.attributes["snapshot.webhook.attempt"] for s in attempts] == [1, 2]
    assert [s.attributes["http.response.status_code"] for s in attempts] == [500, 204]
    assert attempts[0].error and not attempts[1].error and attempts[0].kind == "CLIENT"
    assert attempts[1].attributes["server.address"] == "127.0.0.1"
    # each delivery carried its attempt's context: a receiver may continue the job's trace
    sent = [d.headers["traceparent"].split("-")[1:3] for d in hook.deliveries]
    assert sent == [[job.trace_id, s.span_id] for s in attempts]


def test_latency_histograms_carry_exemplars_of_sampled_traces(traced, otlp, pages):
    prometheus = start_prometheus([urlsplit(traced.url).netloc], exemplars=True)
    try:
        since = time.time() - 5
        trace_ids = set()
        for _ in range(3):
            trace_id, response = traced_snap(traced, pages.base + "/quadrants", 64, 64)
            assert response.status_code == 200
            trace_ids.add(trace_id)
        # an unsampled caller's trace is never an exemplar (nobody could open it)
        unsampled, response = traced_snap(traced, pages.base + "/quadrants", 64, 64, sampled=False)
        assert response.status_code == 200
        expr = 'snapshot_capture_duration_seconds_bucket{backend="grid"}'

        def seen() -> set[str]:
            return {e["labels"]["trace_id"] for e in prometheus.exemplars(expr, since)}

        wait_until(lambda: bool(seen() & trace_ids), 30, "exemplars of the requests' traces")
        assert unsampled not in seen()
        phases = prometheus.exemplars("snapshot_capture_phase_duration_seconds_bucket", since)
        assert {e["labels"]["trace_id"] for e in phases} & trace_ids
        # the text format stays as it was (no exemplars) for scrapers that ask for it
        text = requests.get(f"{traced.url}/metrics", timeout=10)
        assert text.headers["Content-Type"].startswith("text/plain") and "trace_id" not in text.text
        open_metrics = requests.get(
            f"{traced.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}, timeout=10
        )
        assert open_metrics.headers["Content-Type"].startswith("application/openmetrics-text")
        assert re.search(
            r'_bucket\{.*\} [0-9.]+ # \{span_id="[0-9a-f]{16}",trace_id="[0-9a-f]{32}"\}', open_metrics.text
        )
        assert open_metrics.text.endswith("# EOF\n")
    finally:
        prometheus.stop()


def test_without_an_endpoint_the_log_names_no_trace(local_service, pages):
    """The suite's other services run without OTEL_* settings: a caller's traceparent is not continued (nothing is
    traced), so their log lines carry no trace ids."""
    _, response = traced_snap(local_service, pages.base + "/quadrants", 50, 50)
    assert response.status_code == 200
    line = log_line(local_service, response.headers["X-Request-ID"])
    assert "trace_id" not in line and line["status"] == 200


def test_the_lazy_content_scroll_runs_only_where_something_loads_on_scroll(traced, otlp, pages):
    """The wait span says how many scroll steps a full page took: none on a tall page where nothing would load on
    scroll; some where a native lazy image waits below the fold."""
    pages.routes["/lazy-below"] = lambda q: (
        "<!doctype html><body style='margin:0'><div style='height:3000px'></div>"
        "<img loading=lazy src='/color/00ff00' width=50 height=50></body>"
    )
    steps = {}
    for path in ("/cards?n=60", "/lazy-below"):
        trace_id, response = traced_snap(traced, pages.base + path, 300, 400, full_page="true")
        assert response.status_code == 200 and int(response.headers["X-Snapshot-Page-Height"]) > 2000
        span, spans = server_span(otlp, trace_id, "/create_snap")
        steps[path] = next(s for s in children(spans, span) if s.name == "wait").attributes["snapshot.scroll_steps"]
    assert steps["/cards?n=60"] == 0 and steps["/lazy-below"] >= 5
