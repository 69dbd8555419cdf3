"""Every Prometheus metric Snapshot exports, in one place.

Conventions: names start with ``snapshot_``; base units (seconds, bytes) in the name; counters end in
``_total``; label values come from the closed sets below and every combination is created up front,
so dashboards and alerts never see a missing series.  Tests build ``Metrics`` on a fresh
``CollectorRegistry``; the service builds one in its composition root.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from functools import partial

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from service import __version__, tracing
from service.browsers.breaker import Circuit
from service.capture import Backend, Outcome, Phase, Timings

HANDLERS = (
    "create_snap", "create_pdf", "jobs", "monitors", "healthz", "readyz", "metrics", "openapi", "files", "playground",
    "docs", "static", "not_found",
)  # fmt: skip
METHODS = ("GET", "POST", "HEAD", "other")
POOL_STATES = ("idle", "busy")
# from 10 ms to 60 s: a cached probe to the slowest capture the deadline allows
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "snapshot_http_requests",
            "HTTP requests answered, by handler, method and status.",
            ["handler", "method", "status"],
            registry=r,
        )
        self.captures = Counter(
            "snapshot_captures", "Capture requests by backend and outcome.", ["backend", "outcome"], registry=r
        )
        self.capture_duration = Histogram(
            "snapshot_capture_duration_seconds",
            "End-to-end time of successful captures, upload included.",
            ["backend"],
            buckets=BUCKETS,
            registry=r,
        )
        self.phase_duration = Histogram(
            "snapshot_capture_phase_duration_seconds",
            "Time spent per capture phase: check (URL policy), queue, session (acquire/create), navigate, "
            "screenshot, upload.",
            ["phase"],
            buckets=BUCKETS,
            registry=r,
        )
        self.storage_errors = Counter(
            "snapshot_storage_errors", "Failed uploads of captures to storage.", ["storage"], registry=r
        )
        self.sessions_opened = Counter(
            "snapshot_browser_sessions_opened", "Browser sessions opened.", ["backend"], registry=r
        )
        self.sessions_closed = Counter(
            "snapshot_browser_sessions_closed", "Browser sessions closed.", ["backend"], registry=r
        )
        self.orphans_ended = Counter(
            "snapshot_orphan_sessions_ended", "Grid sessions left by crashed replicas and ended here.", registry=r
        )
        self.egress = Counter(
            "snapshot_egress_connections",
            "Browser connections through the filtering proxy, by verdict.",
            ["verdict"],
            registry=r,
        )
        self.blocked_requests = Counter(
            "snapshot_blocked_requests",
            "Requests of pages that captures blocked, by what blocked them: ads, trackers (the filter lists) or "
            "rules (block_resources, block_requests).",
            ["list"],
            registry=r,
        )
        # per tenant (service/tenancy.py): labels are the tenants file's names, "anonymous" for the rest
        self.tenant_captures = Counter(
            "snapshot_tenant_captures", "Capture requests per tenant, by outcome.", ["tenant", "outcome"], registry=r
        )
        self.tenant_browser_seconds = Counter(
            "snapshot_tenant_browser_seconds",
            "Seconds a tenant's captures held a browser tab (navigation, waits, the picture).",
            ["tenant"],
            registry=r,
        )
        self.tenant_bytes = Counter(
            "snapshot_tenant_bytes", "Bytes of images and PDFs delivered to a tenant.", ["tenant"], registry=r
        )
        self.tenant_quota_used = Gauge(
            "snapshot_tenant_quota_used",
            "Captures a tenant used of its quota in the current window (shared by replicas with Redis).",
            ["tenant"],
            registry=r,
        )
        self.tenant_quota_limit = Gauge(
            "snapshot_tenant_quota_limit", "Captures a tenant's quota allows per window.", ["tenant"], registry=r
        )
        self.in_flight = Gauge(
            "snapshot_captures_in_flight", "Captures running or waiting, per backend.", ["backend"], registry=r
        )
        self.queue_depth = Gauge(
            "snapshot_capture_queue_depth", "Captures waiting for a browser, per backend.", ["backend"], registry=r
        )
        self.queue_capacity = Gauge(
            "snapshot_capture_queue_capacity",
            "Captures that may wait before 429s, per backend.",
            ["backend"],
            registry=r,
        )
        self.pool_sessions = Gauge(
            "snapshot_pool_sessions",
            "Browser sessions held by the pool, by backend and state.",
            ["backend", "state"],
            registry=r,
        )
        self.pool_size = Gauge(
            "snapshot_pool_size", "Most sessions (concurrent captures) per backend.", ["backend"], registry=r
        )
        self.grid_slots = Gauge(
            "snapshot_grid_slots", "The Grid's session slots as last seen (total, free).", ["state"], registry=r
        )
        self.grid_queue = Gauge(
            "snapshot_grid_session_queue_size", "New-session requests waiting in the Grid's queue.", registry=r
        )
        self.grid_up = Gauge("snapshot_grid_up", "1 when the Grid answered its last poll.", registry=r)
        self.cache_lookups = Counter(
            "snapshot_cache_lookups", "Cache lookups of requests with a cache_ttl, by result.", ["result"], registry=r
        )
        self.jobs_submitted = Counter("snapshot_jobs_submitted", "Async jobs accepted.", registry=r)
        self.jobs_finished = Counter(
            "snapshot_jobs_finished", "Async jobs finished, by status (a taken-over job counts once per run).",
            ["status"], registry=r,
        )  # fmt: skip
        self.job_wait = Histogram(
            "snapshot_job_wait_seconds",
            "Time async jobs waited between submission and the start of their capture.",
            buckets=(*BUCKETS, 120.0, 300.0, 600.0),
            registry=r,
        )
        self.jobs_queued = Gauge(
            "snapshot_jobs_queued", "Async jobs waiting to run (every replica's, with Redis).", registry=r
        )
        self.job_oldest_age = Gauge(
            "snapshot_job_oldest_queued_age_seconds", "Age of the oldest async job still waiting to run.", registry=r
        )
        self.webhook_deliveries = Counter(
            "snapshot_webhook_deliveries",
            "Webhook attempts by result: delivered, retried (an attempt failed, another follows), failed (given up).",
            ["result"],
            registry=r,
        )
        self.grid_circuit = Gauge(
            "snapshot_grid_circuit",
            "The Grid's circuit breaker (SNAPSHOT_GRID_FALLBACK): 1 for its current state (closed, open, half_open).",
            ["state"],
            registry=r,
        )
        self.grid_nodes_removed = Counter(
            "snapshot_grid_nodes_removed",
            "Grid nodes that stopped answering and that this replica removed.",
            registry=r,
        )
        # visual monitors (service/monitoring.py): one series per monitor, bounded by SNAPSHOT_MAX_MONITORS
        self.monitor_info = Gauge(
            "snapshot_monitor_info", "1 per visual monitor, with its name.", ["monitor", "name"], registry=r
        )
        self.monitor_interval = Gauge(
            "snapshot_monitor_interval_seconds", "A monitor's interval between runs.", ["monitor"], registry=r
        )
        self.monitor_runs = Counter(
            "snapshot_monitor_runs", "Monitor runs by outcome (success, failed).", ["monitor", "outcome"], registry=r
        )
        self.monitor_changes = Counter(
            "snapshot_monitor_changes",
            "Monitor runs whose picture changed past the threshold.",
            ["monitor"],
            registry=r,
        )
        self.monitor_diff_ratio = Gauge(
            "snapshot_monitor_diff_ratio",
            "Share of pixels that changed between a monitor's last two successful runs.",
            ["monitor"],
            registry=r,
        )
        self.monitor_last_success = Gauge(
            "snapshot_monitor_last_success_timestamp_seconds",
            "When a monitor last ran successfully (Unix time).",
            ["monitor"],
            registry=r,
        )
        self.build_info = Gauge("snapshot_build_info", "Build information.", ["version"], registry=r)
        self.build_info.labels(version=__version__).set(1)
        self._monitor_names: dict[str, str] = {}
        self._precreate()

    def _precreate(self) -> None:
        for handler in HANDLERS:
            for method in ("GET", "POST"):
                self.http_requests.labels(handler, method, "200")
        for backend in Backend:
            for outcome in Outcome:
                self.captures.labels(backend, outcome)
            self.capture_duration.labels(backend)
            self.sessions_opened.labels(backend)
            self.sessions_closed.labels(backend)
        for phase in Phase:
            self.phase_duration.labels(phase)
        for storage in ("s3", "local"):
            self.storage_errors.labels(storage)
        for state in ("total", "free"):
            self.grid_slots.labels(state)
        for verdict in ("allowed", "blocked", "error", "challenged", "authenticated"):
            self.egress.labels(verdict)
        for blocked_by in ("ads", "trackers", "rules"):
            self.blocked_requests.labels(blocked_by)
        self.circuit(Circuit.CLOSED)
        for result in ("hit", "miss"):
            self.cache_lookups.labels(result)
        for status in ("succeeded", "failed"):
            self.jobs_finished.labels(status)
        for result in ("delivered", "retried", "failed"):
            self.webhook_deliveries.labels(result)

    def track_backend(
        self,
        backend: Backend,
        *,
        in_flight: Callable[[], float],
        queued: Callable[[], float],
        size: int,
        queue_size: int,
        pool_state: Callable[[str], float],
    ) -> None:
        """Gauges read from a backend at scrape time."""
        self.in_flight.labels(backend).set_function(in_flight)
        self.queue_depth.labels(backend).set_function(queued)
        self.pool_size.labels(backend).set(size)
        self.queue_capacity.labels(backend).set(queue_size)
        for state in POOL_STATES:
            self.pool_sessions.labels(backend, state).set_function(partial(pool_state, state))

    def circuit(self, state: Circuit) -> None:
        """The Grid circuit breaker's state: 1 for it, 0 for the others."""
        for name in Circuit:
            self.grid_circuit.labels(name).set(1 if name is state else 0)

    def monitor_created(self, monitor: str, name: str, every: int) -> None:
        self._monitor_names[monitor] = name
        self.monitor_info.labels(monitor, name).set(1)
        self.monitor_interval.labels(monitor).set(every)
        for outcome in ("success", "failed"):
            self.monitor_runs.labels(monitor, outcome)
        self.monitor_changes.labels(monitor)

    def monitor_run(self, monitor: str, outcome: str, diff_ratio: float | None, changed: bool) -> None:
        """A monitor's run recorded by this replica (with Redis, ``max by (monitor)`` joins the replicas')."""
        self.monitor_runs.labels(monitor, outcome).inc()
        if outcome == "success":
            self.monitor_last_success.labels(monitor).set(time.time())
        if diff_ratio is not None:
            self.monitor_diff_ratio.labels(monitor).set(diff_ratio)
        if changed:
            self.monitor_changes.labels(monitor).inc()

    def monitor_deleted(self, monitor: str) -> None:
        """Its series go (the monitor label stays bounded by the monitors there are)."""
        for metric in (self.monitor_interval, self.monitor_changes, self.monitor_diff_ratio, self.monitor_last_success):
            with contextlib.suppress(KeyError):
                metric.remove(monitor)
        for outcome in ("success", "failed"):
            with contextlib.suppress(KeyError):
                self.monitor_runs.remove(monitor, outcome)
        name = self._monitor_names.pop(monitor, None)
        if name is not None:
            self.monitor_info.remove(monitor, name)

    def observe_request(self, handler: str, method: str, status: int) -> None:
        self.http_requests.labels(
            handler if handler in HANDLERS else "not_found", method if method in METHODS else "other", str(status)
        ).inc()

    def observe_capture(
        self, backend: Backend, outcome: Outcome, timings: Timings | None = None, elapsed: float | None = None
    ) -> None:
        """One capture request's end; ``timings`` and ``elapsed`` of successful ones."""
        self.captures.labels(backend, outcome).inc()
        exemplar = tracing.exemplar()  # the request's trace: a Grafana panel links a slow bucket to it
        if outcome is Outcome.SUCCESS and elapsed is not None:
            self.capture_duration.labels(backend).observe(elapsed, exemplar)
        for phase, seconds in (timings.seconds if timings is not None else {}).items():
            self.phase_duration.labels(phase).observe(seconds, exemplar)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics and their content type: OpenMetrics (with the exemplars) when ``accept`` (the scraper's
        Accept header) asks for it, else Prometheus' text format."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
