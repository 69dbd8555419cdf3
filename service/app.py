"""The composition root: ``build()`` makes the executors, storage, browser backends and tenancy once,
``make_app()`` hands them to the handlers (through ``initialize``); ``service/run.py`` reads the
settings, serves and drains.  No module globals."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.web
import yaml

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
from service.devices import load_devices
from service.filters import Filters
from service.handlers import CaptureHandler
from service.handlers_info import (
    DevicesHandler,
    FilesHandler,
    HealthzHandler,
    JobsHandler,
    MetricsHandler,
    NotFoundHandler,
    OpenApiHandler,
    ReadyzHandler,
    UsageHandler,
)
from service.handlers_monitors import MonitorHandler, MonitorRunHandler, MonitorsHandler
from service.health import CheckFn, Readiness, executable_check, grid_check, redis_check
from service.limits import ClientLimiter
from service.logs import request_logger
from service.metrics import Metrics
from service.monitoring import Monitoring
from service.netpolicy import NetworkPolicy
from service.options import Endpoint, list_params
from service.playground.handlers import routes as playground_routes
from service.snapshots import Snapshotter
from service.storage import LocalStorage, Storage, make_storage
from service.tenancy import Tenancy
from service.tenants import Tenants, TenantsError

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
    monitoring: Monitoring

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
    tenancy: Tenancy | None = None,
) -> Components:
    """Everything the service runs on.  ``factories`` replaces the browser session factories and
    ``clock`` the wall clock cache entries age by (in-process tests give their own); ``tenancy`` is made
    from the tenants file unless given."""
    metrics = metrics or Metrics()
    tenancy = tenancy or Tenancy(load_tenants(settings), settings, policy, metrics, clock)
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
        tenancy=tenancy,
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
        facts={"filter_lists": filters.describe(), "devices": load_devices(settings.devices_file).describe()},
    )
    renderer, jobs, monitoring = make_delivery(settings, snapshotter, metrics, instance, dns_executor, clock)
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
        monitoring=monitoring,
    )


def make_app(components: Components) -> tornado.web.Application:
    settings = components.settings
    limiter = ClientLimiter(settings.client_max_in_flight, settings.client_rate, settings.client_burst)
    tenancy = components.snapshotter.tenancy
    snap = {
        "settings_": settings,
        "snapshotter": components.snapshotter,
        "metrics": components.metrics,
        "limiter": limiter,
        "api_keys": ApiKeys(
            settings.api_keys,
            max_signed_ttl=settings.max_signed_ttl,
            repeatable=list_params(),
            tenants=tenancy.tenants,
        ),
        "renderer": components.renderer,
        "jobs": components.jobs,
        "tenancy": tenancy,
    }
    routes: list[Any] = [
        *((e.path, CaptureHandler, {**snap, "endpoint": e, "handler_name": e.path[1:]}) for e in Endpoint),
        (r"/jobs/([0-9a-f]{32})", JobsHandler, {"jobs": components.jobs, "api_keys": snap["api_keys"]}),
        *(
            (path, handler, {"monitoring": components.monitoring, "api_keys": snap["api_keys"], "settings_": settings})
            for path, handler in (
                ("/monitors", MonitorsHandler),
                (r"/monitors/([0-9a-f]{32})", MonitorHandler),
                (r"/monitors/([0-9a-f]{32})/run", MonitorRunHandler),
            )
        ),  # fmt: skip
        (r"/devices", DevicesHandler, {"settings_": settings}),
        (r"/usage", UsageHandler, {"api_keys": snap["api_keys"], "tenancy": tenancy, "settings_": settings}),
        (r"/healthz", HealthzHandler),
        (r"/readyz", ReadyzHandler, {"readiness": components.readiness, "breaker": components.snapshotter.breaker}),
        (r"/metrics", MetricsHandler, {"metrics": components.metrics}),
        (r"/openapi.json", OpenApiHandler, {"settings_": settings}),
    ]
    if settings.playground:
        routes += playground_routes(settings)
    if isinstance(components.storage, LocalStorage):
        files = r"/files/([A-Za-z0-9._-]+\.(?:png|jpg|webp|pdf|html|txt|md))"
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
        max_body_size=max(2 * settings.max_capture_body, 1 << 20),
        idle_connection_timeout=60,
        # X-Forwarded-For is read by service.web.client_ip (Tornado's xheaders would trust X-Real-Ip)
    )


def load_tenants(settings: Settings) -> Tenants:
    """The tenants file's tenants (none without one); raises ``TenantsError`` naming every problem."""
    if settings.tenants_file is None:
        return Tenants.empty()
    tenants = Tenants.load(settings.tenants_file)
    shared = [t.name for t in tenants.by_name.values() if set(t.keys) & set(settings.api_keys)]
    if shared:
        raise TenantsError(f"SNAPSHOT_API_KEYS: a key is also tenant {shared[0]!r}'s in SNAPSHOT_TENANTS_FILE")
    return tenants


def load_monitors(settings: Settings) -> list[dict[str, Any]]:
    """The declared monitors of ``SNAPSHOT_MONITORS_FILE`` (a YAML list of ``POST /monitors`` bodies with a
    ``name``, and the ``tenant`` that owns each); raises ``SettingsError`` when it is not one."""
    if settings.monitors_file is None:
        return []
    try:
        entries = yaml.safe_load(Path(settings.monitors_file).read_text()) or []
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"SNAPSHOT_MONITORS_FILE: {exc}") from None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
    ):
        raise SettingsError("SNAPSHOT_MONITORS_FILE: must be a list of monitors, each with a name")
    return entries


def capture_policy(settings: Settings) -> NetworkPolicy:
    """What captures may reach: checked by the API before a capture and by the proxy at every connection."""
    forward = settings.upstream_proxy is not None and settings.upstream_unresolved == "forward"
    return NetworkPolicy(allow=settings.allow_networks, deny=settings.deny_networks, forward_unresolved=forward)
