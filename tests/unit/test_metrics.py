"""The metrics module, on a fresh registry each test."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from service.capture import Backend, Outcome, Phase, Timings
from service.metrics import Metrics


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_every_outcome_and_phase_series_exists_before_any_traffic():
    metrics = Metrics(CollectorRegistry())
    for backend in Backend:
        for outcome in Outcome:
            assert value(metrics, "snapshot_captures_total", backend=backend, outcome=outcome) == 0
    for phase in Phase:
        assert value(metrics, "snapshot_capture_phase_duration_seconds_count", phase=phase) == 0
    assert value(metrics, "snapshot_build_info", version=__import__("service").__version__) == 1


def test_a_successful_capture_counts_and_times_every_phase():
    metrics = Metrics(CollectorRegistry())
    timings = Timings()
    for phase, seconds in zip(Phase, (0.001, 0.0, 0.002, 0.05, 0.003, 0.1, 0.02), strict=True):
        timings.add(phase, seconds)
    metrics.observe_capture(Backend.GRID, Outcome.SUCCESS, timings, elapsed=0.2)
    assert value(metrics, "snapshot_captures_total", backend="grid", outcome="success") == 1
    assert value(metrics, "snapshot_capture_duration_seconds_count", backend="grid") == 1
    assert value(metrics, "snapshot_capture_duration_seconds_sum", backend="grid") == 0.2
    assert value(metrics, "snapshot_capture_phase_duration_seconds_bucket", phase="navigate", le="0.05") == 1
    assert value(metrics, "snapshot_capture_phase_duration_seconds_bucket", phase="screenshot", le="0.05") == 0


def test_failures_count_without_latency_and_unknown_labels_stay_bounded():
    metrics = Metrics(CollectorRegistry())
    metrics.observe_capture(Backend.GRID, Outcome.TIMEOUT)
    assert value(metrics, "snapshot_captures_total", backend="grid", outcome="timeout") == 1
    assert value(metrics, "snapshot_capture_duration_seconds_count", backend="grid") == 0
    metrics.observe_request("create_snap", "PATCH", 405)
    metrics.observe_request("/etc/passwd", "GET", 404)
    assert value(metrics, "snapshot_http_requests_total", handler="create_snap", method="other", status="405") == 1
    assert value(metrics, "snapshot_http_requests_total", handler="not_found", method="GET", status="404") == 1


def test_backend_gauges_are_read_at_scrape_time():
    metrics = Metrics(CollectorRegistry())
    state = {"in_flight": 3, "queued": 1, "idle": 2, "busy": 3}
    metrics.track_backend(
        Backend.LOCAL,
        in_flight=lambda: state["in_flight"],
        queued=lambda: state["queued"],
        size=4,
        queue_size=8,
        pool_state=lambda s: state[s],
    )
    assert value(metrics, "snapshot_captures_in_flight", backend="local") == 3
    state["in_flight"] = 0
    assert value(metrics, "snapshot_captures_in_flight", backend="local") == 0
    assert value(metrics, "snapshot_pool_sessions", backend="local", state="idle") == 2
    assert value(metrics, "snapshot_pool_size", backend="local") == 4


def test_exposition_parses_and_every_name_has_the_prefix():
    metrics = Metrics(CollectorRegistry())
    families = list(text_string_to_metric_families(metrics.exposition()[0].decode()))
    assert families and all(f.name.startswith("snapshot_") for f in families)
