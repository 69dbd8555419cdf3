"""The composition root: ``main()`` builds settings, executors, storage and browser backends once
and hands them to ``make_app``; handlers receive them through ``initialize``.  No module globals."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import tornado.httpserver
import tornado.web

from service import __version__
from service.auth import ApiKeys
from service.backend import CaptureBackend
from service.browser import INSTANCE_CAPABILITY, grid_session_factory, local_session_factory
from service.config import Settings, SettingsError
from service.egress import EgressProxy
from service.grid import end_session, find_orphans, grid_capacity, grid_sessions, grid_status
from service.handlers import (
    CreateSnapHandler,
    FilesHandler,
    HealthzHandler,
    MetricsHandler,
    NotFoundHandler,
    OpenApiHandler,
    ReadyzHandler,
    request_id,
)
from service.health import Readiness, executable_check, grid_check
from service.limits import ClientLimiter
from service.metrics import Metrics
from service.netpolicy import NetworkPolicy
from service.pool import SessionPool
from service.snapshots import Snapshotter
from service.storage import LocalStorage, Storage, make_storage

log = logging.getLogger("snapshot")
access_log = logging.getLogger("snapshot.access")

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass
class Components:
    settings: Settings
    snapshotter: Snapshotter
    readiness: Readiness
    storage: Storage
    io_executor: ThreadPoolExecutor
    metrics: Metrics
    instance: str

    def close(self) -> None:
        for backend in self.snapshotter.backends:
            backend.close()
        self.io_executor.shutdown(wait=False, cancel_futures=True)


def _backend(name: str, factory: Any, settings: Settings, size: int, metrics: Metrics) -> CaptureBackend:
    def on_event(event: str) -> None:
        (metrics.sessions_opened if event == "opened" else metrics.sessions_closed).labels(name).inc()

    pool = SessionPool(
        factory,
        name=name,
        max_uses=settings.session_max_uses,
        max_age=settings.session_max_age,
        idle_timeout=settings.session_idle_timeout,
        on_event=on_event,
    )
    backend = CaptureBackend(name, pool, size=size, queue_size=settings.queue_size)
    metrics.track_backend(
        name,
        in_flight=lambda: backend.in_flight,
        queued=lambda: backend.queued,
        size=size,
        queue_size=settings.queue_size,
        pool_state=lambda state: getattr(pool.stats(), state),
    )
    return backend


def build(
    settings: Settings, policy: NetworkPolicy, metrics: Metrics | None = None, proxy_url: str | None = None
) -> Components:
    metrics = metrics or Metrics()
    instance = uuid.uuid4().hex[:12]  # tags this replica's Grid sessions
    io_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="io")
    grid = None
    if settings.grid_url:
        grid = _backend(
            "grid", grid_session_factory(settings, instance, proxy_url), settings, settings.pool_size, metrics
        )
    local = None
    if grid is None or settings.allow_localmode:
        local = _backend(
            "local", local_session_factory(settings, proxy_url), settings, settings.local_pool_size, metrics
        )
    storage = make_storage(settings)
    checks = {"storage": storage.check}
    if settings.grid_url:
        checks["grid"] = grid_check(settings.grid_url, settings.grid_auth)
    else:
        checks["chromedriver"] = executable_check(settings.chromedriver_path)
        checks["chromium"] = executable_check(settings.chromium_path)
    snapshotter = Snapshotter(
        settings,
        policy=policy,
        grid=grid,
        local=local,
        storage=storage,
        io_executor=io_executor,
        metrics=metrics,
    )
    return Components(settings, snapshotter, Readiness(checks, io_executor), storage, io_executor, metrics, instance)


def request_logger(metrics: Metrics) -> Any:
    def log_request(handler: tornado.web.RequestHandler) -> None:
        """Count the request; one JSON line per request; level follows status; probes at debug;
        never the query string (it holds target URLs and, later, keys)."""
        request = handler.request
        status = handler.get_status()
        metrics.observe_request(getattr(handler, "handler_name", "not_found"), request.method or "", status)
        if request.path in PROBE_PATHS and status < 500:
            level = logging.DEBUG
        elif status >= 500:
            level = logging.ERROR
        elif status >= 400:
            level = logging.WARNING
        else:
            level = logging.INFO
        if not access_log.isEnabledFor(level):
            return
        record: dict[str, Any] = {
            "request_id": request_id(request),
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round(1000 * request.request_time(), 1),
            "remote_ip": request.remote_ip,
        }
        error = getattr(handler, "error_code", None)
        if error:
            record["error"] = error
            record["message"] = getattr(handler, "error_message", None)
        record.update(getattr(handler, "log_fields", None) or {})
        outcome = getattr(handler, "outcome", None)
        if outcome:
            record["outcome"] = outcome
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
        if record.name == "snapshot.access" and message.startswith("{"):
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
    for noisy in ("tornado.access", "urllib3", "selenium", "botocore", "boto3", "websocket"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def make_app(components: Components) -> tornado.web.Application:
    settings = components.settings
    limiter = ClientLimiter(settings.client_max_in_flight, settings.client_rate, settings.client_burst)
    snap = {"settings_": settings, "snapshotter": components.snapshotter, "metrics": components.metrics,
            "limiter": limiter, "api_keys": ApiKeys(settings.api_keys)}
    routes: list[Any] = [
        (r"/create_snap", CreateSnapHandler, snap),
        (r"/healthz", HealthzHandler),
        (r"/readyz", ReadyzHandler, {"readiness": components.readiness}),
        (r"/metrics", MetricsHandler, {"metrics": components.metrics}),
        (r"/openapi.json", OpenApiHandler),
    ]
    if isinstance(components.storage, LocalStorage):
        routes.append((r"/files/([A-Za-z0-9._-]+\.png)", FilesHandler, {"path": str(components.storage.directory)}))
    return tornado.web.Application(
        routes,
        default_handler_class=NotFoundHandler,
        log_function=request_logger(components.metrics),
        compress_response=False,
        serve_traceback=False,
    )


async def loop_warm(components: Components) -> None:
    """Open sessions ahead of demand: locally up to the pool size; on the Grid only into slots that
    are free now, so warming never queues on the Grid or takes slots from its other clients."""
    snapshotter = components.snapshotter
    if snapshotter.grid is not None:
        loop = asyncio.get_running_loop()
        try:
            settings = components.settings
            status = await loop.run_in_executor(
                components.io_executor, grid_status, settings.grid_url, settings.grid_auth
            )
            snapshotter.grid.warm(min(snapshotter.grid.size, status.free_slots))
        except Exception as exc:
            log.warning("the Grid did not answer; no sessions opened ahead of demand: %s", exc)
    elif snapshotter.local is not None:
        snapshotter.local.warm()


async def serve(settings: Settings) -> None:
    metrics = Metrics()
    # one policy for the API's check and the browsers' proxy
    policy = NetworkPolicy(allow=settings.allow_networks, deny=settings.deny_networks)
    proxy = None
    proxy_url = None
    if settings.egress_proxy:
        proxy = EgressProxy(
            policy,
            on_verdict=lambda verdict: metrics.egress.labels(verdict).inc(),
        )
        port = await proxy.start(settings.proxy_host, settings.proxy_port)
        proxy_url = settings.proxy_url or f"http://127.0.0.1:{port}"
        log.info("filtering proxy for the browsers on %s:%d (browsers use %s)", settings.proxy_host, port, proxy_url)
    components = build(settings, policy, metrics, proxy_url)
    app = make_app(components)
    # the server's own cap is far above the API's limit, which the handler answers with a 413 JSON error
    server = tornado.httpserver.HTTPServer(
        app,
        max_body_size=max(16 * settings.max_body_size, 1 << 20),
        idle_connection_timeout=60,
        xheaders=settings.trust_forwarded_for,
    )
    server.listen(settings.port, address=settings.host)
    log.info("snapshot %s listening on %s:%d (backend: %s, storage: %s)", __version__, settings.host,
             settings.port, "grid " + settings.grid_url if settings.grid_url else "local", components.storage.name)
    await loop_warm(components)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def reap() -> None:
        while True:
            await asyncio.sleep(min(15.0, max(0.5, settings.session_idle_timeout / 2)))
            for backend in components.snapshotter.backends:
                backend.reap_idle()

    async def poll_grid() -> None:
        """The Grid's capacity as the service sees it, for the metrics (every 10 s)."""
        metrics = components.metrics
        while True:
            try:
                capacity = await loop.run_in_executor(
                    components.io_executor, grid_capacity, settings.grid_url, settings.grid_auth
                )
                metrics.grid_slots.labels("total").set(capacity.slots)
                metrics.grid_slots.labels("free").set(capacity.free)
                metrics.grid_queue.set(capacity.queue)
                metrics.grid_up.set(1)
            except Exception as exc:
                metrics.grid_up.set(0)
                log.debug("grid capacity poll failed: %s", exc)
            await asyncio.sleep(10)

    def end_orphans() -> int:
        grid = components.snapshotter.grid
        assert grid is not None and settings.grid_url is not None
        orphans = find_orphans(
            grid_sessions(settings.grid_url, settings.grid_auth),
            capability=INSTANCE_CAPABILITY,
            instance=components.instance,
            ours=grid.pool.session_ids(),
            own_grace=settings.session_timeout + 30,
            foreign_max_age=settings.session_max_age + settings.capture_timeout + 10,
        )
        for orphan in orphans:
            log.warning("ending orphaned Grid session %s (age %.0fs, replica %s)", orphan.id, orphan.age,
                        orphan.capabilities.get(INSTANCE_CAPABILITY))
            end_session(settings.grid_url, orphan.id, settings.grid_auth)
            components.metrics.orphans_ended.inc()
        return len(orphans)

    async def sweep_orphans() -> None:
        """Sessions crashed replicas left on the Grid hold slots until the node's timeout: end them."""
        while True:
            await asyncio.sleep(min(30.0, max(1.0, settings.session_max_age / 2)))
            try:
                await loop.run_in_executor(components.io_executor, end_orphans)
            except Exception as exc:
                log.debug("orphan sweep failed: %s", exc)

    reaper = asyncio.create_task(reap())
    sweeper = asyncio.create_task(sweep_orphans()) if settings.grid_url else None
    poller = asyncio.create_task(poll_grid()) if settings.grid_url else None
    await stop.wait()
    log.info("shutting down: no longer ready, finishing captures in flight")
    components.readiness.shutting_down = True
    components.snapshotter.accepting = False
    server.stop()
    deadline = time.monotonic() + settings.shutdown_grace
    while any(b.in_flight for b in components.snapshotter.backends) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await server.close_all_connections()
    reaper.cancel()
    for task in (poller, sweeper):
        if task is not None:
            task.cancel()
    await loop.run_in_executor(None, components.close)
    if proxy is not None:
        await proxy.stop()
    log.info("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service", description="Snapshot screenshot service")
    parser.add_argument("--port", type=int, help="port to listen on (default: SNAPSHOT_PORT or 8080)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(**({"port": args.port} if args.port else {}))
    except SettingsError as exc:
        print(f"snapshot: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))
