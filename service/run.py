"""Running the service: ``python -m service`` reads the settings and the tenants file (stopping with every
problem named), starts the browsers' filtering proxy, builds the components (``service.app.build``),
serves the API and, on SIGTERM, drains (``drain``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from typing import Any

import tornado.httpserver

from service import __version__, tracing
from service.app import Components, build, capture_policy, load_monitors, load_tenants, make_app, make_server
from service.config import Settings, SettingsError
from service.egress import EgressProxy
from service.logs import configure_logging
from service.maintenance import Maintenance
from service.metrics import Metrics
from service.tenancy import Tenancy
from service.tenants import Tenants, TenantsError
from service.upstream import Upstream

log = logging.getLogger("snapshot")


async def start_proxy(settings: Settings, tenancy: Tenancy, metrics: Metrics) -> tuple[EgressProxy, str]:
    """The browsers' filtering proxy, and the URL browsers reach it at."""
    upstream = Upstream.of(settings.upstream_proxy, settings.upstream_no_proxy) if settings.upstream_proxy else None
    proxy = EgressProxy(
        tenancy.policy_for(""),
        on_verdict=lambda verdict: metrics.egress.labels(verdict).inc(),
        upstream=upstream,
        tenancy=tenancy,
    )
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
    await components.monitoring.cancel()
    await runner.cancel()
    maintenance.cancel()
    await runner.store.close()
    await components.snapshotter.tenancy.close()
    await asyncio.get_running_loop().run_in_executor(None, components.close)
    if proxy is not None:
        await proxy.stop()
    log.info("stopped")


async def serve(settings: Settings, tenants: Tenants, monitors: list[dict[str, Any]]) -> None:
    metrics = Metrics()
    policy = capture_policy(settings)  # API and proxy
    tenancy = Tenancy(tenants, settings, policy, metrics)
    proxy, proxy_url = await start_proxy(settings, tenancy, metrics) if settings.egress_proxy else (None, None)
    components = build(settings, policy, metrics, proxy_url, tenancy=tenancy)
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
    await components.monitoring.declare(monitors)  # the chart's monitors, by name
    components.monitoring.start()
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
        tenants = load_tenants(settings)
        monitors = load_monitors(settings)
    except (SettingsError, TenantsError) as exc:
        print(f"snapshot: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level)
    tracing.configure(__version__)  # OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables
    try:
        asyncio.run(serve(settings, tenants, monitors))
    finally:
        tracing.shutdown()  # the spans of the last requests exported
