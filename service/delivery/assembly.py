"""How the delivery parts are put together for one replica (``service.app.build`` calls this): shared by
the replicas through Redis when ``SNAPSHOT_REDIS_URL`` is set, else in this process."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial

import redis.asyncio

from service.config import Settings
from service.delivery.cache import CaptureCache
from service.delivery.flight import Flights
from service.delivery.jobs import JobStore, MemoryJobs, RedisJobs
from service.delivery.renderer import Renderer
from service.delivery.webhooks import WebhookSender
from service.delivery.worker import JobRunner
from service.metrics import Metrics
from service.monitoring import Monitoring
from service.monitors import MemoryMonitors, MonitorStore, RedisMonitors
from service.netpolicy import NetworkPolicy
from service.snapshots import Snapshotter


def make_delivery(
    settings: Settings,
    snapshotter: Snapshotter,
    metrics: Metrics,
    instance: str,
    resolver: Executor,
    clock: Callable[[], float] = time.time,
) -> tuple[Renderer, JobRunner, Monitoring]:
    """The cache, single flight, async jobs and visual monitors, and the webhooks' sender (its own reach, on
    ``resolver``)."""
    store: JobStore
    monitors: MonitorStore
    if settings.redis_url:
        shared = redis.asyncio.Redis.from_url(settings.redis_url, decode_responses=True)
        flights = Flights(shared)
        store = RedisJobs(
            shared, instance, ttl=settings.job_ttl, visibility=settings.job_visibility_timeout,
            retained=settings.job_retained,
        )  # fmt: skip
        monitors = RedisMonitors(shared)
    else:
        flights = Flights()
        store = MemoryJobs(settings.job_ttl, retained=settings.job_retained)
        monitors = MemoryMonitors()
    renderer = Renderer(snapshotter, CaptureCache(snapshotter, clock), flights, metrics)
    webhooks = None
    if settings.webhook_secret:
        reach = NetworkPolicy(allow=settings.webhook_allow_networks, deny=settings.deny_networks)  # not the captures'
        webhooks = WebhookSender(
            settings.webhook_secret,
            reach,
            settings.webhook_timeout,
            resolver=resolver,
            ports=settings.webhook_ports,
            concurrency=settings.webhook_concurrency,
            # each tenant's own secret, the service's for everyone else
            secret_for=partial(snapshotter.tenancy.tenants.webhook_secret, service_secret=settings.webhook_secret),
        )
    jobs = JobRunner(store, renderer, webhooks, settings, metrics)
    return renderer, jobs, Monitoring(monitors, jobs, settings, metrics, webhooks)
