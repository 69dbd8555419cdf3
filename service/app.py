"""The composition root: ``main()`` reads the settings, ``build()`` makes the executors, storage and
browser backends once, ``make_app()`` hands them to the handlers (through ``initialize``), ``serve()``
runs them and ``drain()`` shuts them down.  No module globals."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import tornado.httpserver
import tornado.web

from service import __version__
from service.auth import ApiKeys
from service.browsers.backend import CaptureBackend
from service.browsers.breaker import CircuitBreaker
from service.browsers.consent import ConsentRules
from service.browsers.factories import grid_session_factory, local_session_factory
from service.browsers.grid import GridApi
from service.browsers.nodes import NodeLoss
from service.browsers.pool import SessionFactory, SessionPool
from service.capture import Backend
from service.config import Settings, SettingsError
from service.delivery.assembly import make_delivery
from service.delivery.renderer import Renderer
from service.delivery.worker import JobRunner
from service.egress import EgressProxy
from service.filters import Filters
from service.handlers import (
    CaptureHandler,
    FilesHandler,
    HealthzHandler,
    JobsHandler,
    MetricsHandler,
    NotFoundHandler,
    OpenApiHandler,
    ReadyzHandler,
)
from service.health import CheckFn, Readiness, executable_check, grid_check, redis_check
from service.limits import ClientLimiter
from service.logs import configure_logging, request_logger
from service.maintenance import Maintenance
from service.metrics import Metrics
from service.netpolicy import NetworkPolicy
from service.options import Endpoint, list_params
from service.playground.handlers import routes as playground_routes
from service.snapshots import Snapshotter
from service.storage import LocalStorage, Storage, make_storage
from service.upstream import Upstream

log = logging.getLogger("snapshot")


@dataclass
class Components:
    settings: Settings
    snapshotter: Snapshotter
    readiness: Readiness
    storage: Storage
    io_executor: ThreadPoolExecutor
    dns_executor: ThreadPoolExecutor
    metrics: Metrics
    instance: str  # this replica's id; tags its Grid sessions
    grid: GridApi | None
    renderer: Renderer
    jobs: JobRunner

    def close(self) -> None:
        """Blocking: waits for running captures, closes every browser session."""
        for backend in self.snapshotter.backends:
            backend.close()
        self.io_executor.shutdown(wait=False, cancel_futures=True)
        self.dns_executor.shutdown(wait=False, cancel_futures=True)
        self.readiness.executor.shutdown(wait=False, cancel_futures=True)


def _backend(
    name: Backend, factory: SessionFactory, settings: Settings, size: int, metrics: Metrics, grid: GridApi | None = None
) -> CaptureBackend:
    """A backend; on the Grid (``grid``) its pool waits for its own sessions when the Grid has no free
    slot, and a session that died or could not be started makes it look for dead nodes
    (``browsers/nodes.py``)."""

    def on_event(event: str) -> None:
        (metrics.sessions_opened if event == "opened" else metrics.sessions_closed).labels(name).inc()

    nodes = NodeLoss(grid, settings.grid_registration_secret, metrics.grid_nodes_removed.inc) if grid else None
    pool = SessionPool(
        factory,
        name=name,
        max_uses=settings.session_max_uses,
        max_age=settings.session_max_age,
        idle_timeout=settings.session_idle_timeout,
        on_event=on_event,
        room=nodes.room if nodes is not None else None,
    )
    if nodes is not None:
        nodes.pool = pool
    backend = CaptureBackend(
        name, pool, size=size, queue_size=settings.queue_size, on_failure=nodes.sweep if nodes else None
    )
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
    settings: Settings,
    policy: NetworkPolicy,
    metrics: Metrics | None = None,
    proxy_url: str | None = None,
    factories: dict[Backend, SessionFactory] | None = None,
    clock: Callable[[], float] = time.time,
) -> Components:
    """Everything the service runs on.  ``factories`` replaces the browser session factories and
    ``clock`` the wall clock cache entries age by (in-process tests give their own)."""
    metrics = metrics or Metrics()
    instance = uuid.uuid4().hex[:12]
    io_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="io")  # storage
    dns_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns")  # captures' and webhooks' checks
    grid_api = GridApi(settings.grid_url, settings.grid_auth) if settings.grid_url else None
    factories = factories or {}
    consent_rules = ConsentRules.load(settings.autoconsent_dir)
    if consent_rules is None:
        log.info("no autoconsent rules in %s: block_cookie_banners is refused", settings.autoconsent_dir)
    filters = Filters.load(settings.filter_lists_dir)  # the engines, built once
    grid = local = None
    if grid_api is not None:
        made = grid_session_factory(settings, instance, proxy_url, consent_rules, grid_api, filters)
        grid = _backend(
            Backend.GRID, factories.get(Backend.GRID) or made, settings, settings.pool_size, metrics, grid_api
        )
    fallback = grid is not None and settings.grid_fallback == "local"
    if grid is None or settings.allow_localmode or fallback:
        factory = factories.get(Backend.LOCAL) or local_session_factory(settings, proxy_url, consent_rules, filters)
        local = _backend(Backend.LOCAL, factory, settings, settings.local_pool_size, metrics)
    storage = make_storage(settings)
    checks: dict[str, CheckFn] = {"storage": storage.check}
    optional = set()
    if grid_api is not None:
        checks["grid"] = grid_check(grid_api)
        if fallback:  # the local backend serves while the Grid is down: the replica stays ready
            optional.add("grid")
            checks["chromedriver"] = executable_check(settings.chromedriver_path)
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
        dns_executor=dns_executor,
        metrics=metrics,
        consent=consent_rules is not None,
        filters=filters,
        breaker=CircuitBreaker(settings.grid_fallback_threshold, settings.grid_fallback_cooldown, metrics.circuit)
        if fallback
        else None,
    )
    if settings.redis_url:
        checks["redis"] = redis_check(settings.redis_url)
    readiness = Readiness(
        checks,
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz"),
        optional=optional,
        facts={"filter_lists": filters.describe()},
    )
    renderer, jobs = make_delivery(settings, snapshotter, metrics, instance, dns_executor, clock)
    return Components(
        settings=settings,
        snapshotter=snapshotter,
        readiness=readiness,
        storage=storage,
        io_executor=io_executor,
        dns_executor=dns_executor,
        metrics=metrics,
        instance=instance,
        grid=grid_api,
        renderer=renderer,
        jobs=jobs,
    )


def make_app(components: Components) -> tornado.web.Application:
    settings = components.settings
    limiter = ClientLimiter(settings.client_max_in_flight, settings.client_rate, settings.client_burst)
    snap = {
        "settings_": settings,
        "snapshotter": components.snapshotter,
        "metrics": components.metrics,
        "limiter": limiter,
        "api_keys": ApiKeys(settings.api_keys, max_signed_ttl=settings.max_signed_ttl, repeatable=list_params()),
        "renderer": components.renderer,
        "jobs": components.jobs,
    }
    routes: list[Any] = [
        (r"/create_snap", CaptureHandler, {**snap, "endpoint": Endpoint.SNAP, "handler_name": "create_snap"}),
        (r"/create_pdf", CaptureHandler, {**snap, "endpoint": Endpoint.PDF, "handler_name": "create_pdf"}),
        (r"/jobs/([0-9a-f]{32})", JobsHandler, {"jobs": components.jobs, "api_keys": snap["api_keys"]}),
        (r"/healthz", HealthzHandler),
        (r"/readyz", ReadyzHandler, {"readiness": components.readiness, "breaker": components.snapshotter.breaker}),
        (r"/metrics", MetricsHandler, {"metrics": components.metrics}),
        (r"/openapi.json", OpenApiHandler, {"settings_": settings}),
    ]
    if settings.playground:
        routes += playground_routes(settings)
    if isinstance(components.storage, LocalStorage):
        files = r"/files/([A-Za-z0-9._-]+\.(?:png|jpg|webp|pdf))"
        routes.append((files, FilesHandler, {"path": str(components.storage.directory), "storage": components.storage}))
    return tornado.web.Application(
        routes,
        default_handler_class=NotFoundHandler,
        log_function=request_logger(components.metrics, settings.client_hops),
        compress_response=False,
        serve_traceback=False,
    )


def make_server(app: tornado.web.Application, settings: Settings) -> tornado.httpserver.HTTPServer:
    # the server's own cap is far above the API's limit, which the handler answers with a 413 JSON error
    return tornado.httpserver.HTTPServer(
        app,
        max_body_size=max(16 * settings.max_body_size, 1 << 20),
        idle_connection_timeout=60,
        # X-Forwarded-For is read by service.web.client_ip (Tornado's xheaders would trust X-Real-Ip)
    )


def capture_policy(settings: Settings) -> NetworkPolicy:
    """What captures may reach: checked by the API before a capture and by the proxy at every connection."""
    forward = settings.upstream_proxy is not None and settings.upstream_unresolved == "forward"
    return NetworkPolicy(allow=settings.allow_networks, deny=settings.deny_networks, forward_unresolved=forward)


async def start_proxy(settings: Settings, policy: NetworkPolicy, metrics: Metrics) -> tuple[EgressProxy, str]:
    """The browsers' filtering proxy, and the URL browsers reach it at."""
    upstream = Upstream.of(settings.upstream_proxy, settings.upstream_no_proxy) if settings.upstream_proxy else None
    proxy = EgressProxy(policy, on_verdict=lambda verdict: metrics.egress.labels(verdict).inc(), upstream=upstream)
    port = await proxy.start(settings.proxy_host, settings.proxy_port)
    proxy_url = settings.proxy_url or f"http://127.0.0.1:{port}"
    log.info("filtering proxy for the browsers on %s:%d (browsers use %s)", settings.proxy_host, port, proxy_url)
    return proxy, proxy_url


async def drain(
    components: Components,
    server: tornado.httpserver.HTTPServer,
    maintenance: Maintenance,
    proxy: EgressProxy | None,
) -> None:
    """The shutdown, in order: no longer ready and no new requests or jobs, no new connections; the
    captures in flight and the jobs this replica holds finished (up to ``SNAPSHOT_SHUTDOWN_GRACE``;
    with Redis only their captures: other replicas take over their queue and webhooks), connections
    closed, maintenance loops stopped, every browser session closed, the proxy stopped."""
    log.info("shutting down: no longer ready, finishing captures in flight")
    settings, runner = components.settings, components.jobs
    components.readiness.shutting_down = True
    components.snapshotter.stop_accepting()
    runner.claiming = settings.redis_url is None  # without Redis, this process's queue is worked through
    server.stop()
    deadline = time.monotonic() + settings.shutdown_grace

    async def busy() -> bool:
        if settings.redis_url is None:
            return runner.busy > 0 or (await runner.store.queued())[0] > 0
        return runner.capturing > 0

    while (components.snapshotter.in_flight or await busy()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await server.close_all_connections()
    await runner.cancel()
    maintenance.cancel()
    await runner.store.close()
    await asyncio.get_running_loop().run_in_executor(None, components.close)
    if proxy is not None:
        await proxy.stop()
    log.info("stopped")


async def serve(settings: Settings) -> None:
    metrics = Metrics()
    policy = capture_policy(settings)  # API and proxy
    proxy, proxy_url = await start_proxy(settings, policy, metrics) if settings.egress_proxy else (None, None)
    components = build(settings, policy, metrics, proxy_url)
    server = make_server(make_app(components), settings)
    server.listen(settings.port, address=settings.host)
    log.info(
        "snapshot %s listening on %s:%d (backend: %s, storage: %s)",
        __version__,
        settings.host,
        settings.port,
        f"grid {settings.grid_url}" if settings.grid_url else "local",
        components.storage.name,
    )
    c = components
    maintenance = Maintenance(settings, c.snapshotter, c.storage, c.metrics, c.io_executor, c.grid, c.instance)
    maintenance.start()
    components.jobs.start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await drain(components, server, maintenance, proxy)


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
