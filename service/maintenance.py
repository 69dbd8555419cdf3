"""The service's maintenance loops (not the clients' async jobs: ``service/delivery``), each a named
unit: one documented loop that catches, logs and carries on.  Start-up only starts them
(``Maintenance.start``); shutdown cancels them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar

from service.browsers.chrome import INSTANCE_CAPABILITY
from service.browsers.grid import GridApi, find_orphans
from service.config import Settings
from service.delivery.cache import sweep_local
from service.metrics import Metrics
from service.snapshots import Snapshotter
from service.storage import LocalStorage, Storage

log = logging.getLogger("snapshot.maintenance")
T = TypeVar("T")

GRID_POLL_INTERVAL = 10.0  # seconds between two reads of the Grid's capacity (metrics)
CACHE_SWEEP_INTERVAL = 60.0  # seconds between two sweeps of expired local cache entries


class Maintenance:
    def __init__(
        self,
        settings: Settings,
        snapshotter: Snapshotter,
        storage: Storage,
        metrics: Metrics,
        executor: Executor,
        grid: GridApi | None,
        instance: str,
    ) -> None:
        self.settings = settings
        self.snapshotter = snapshotter
        self.storage = storage
        self.metrics = metrics
        self.executor = executor  # blocking calls: the Grid's API, file sweeps
        self.grid = grid
        self.instance = instance  # this replica's id, on its Grid sessions
        self._tasks: list[asyncio.Task[None]] = []

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    def start(self) -> None:
        loops: list[Callable[[], Coroutine[Any, Any, None]]] = [self.warm_sessions, self.reap_idle_sessions]
        if self.grid is not None:
            loops += [self.poll_grid_capacity, self.sweep_orphans]
        if isinstance(self.storage, LocalStorage):
            loops.append(self.sweep_cache)
        self._tasks = [asyncio.create_task(loop(), name=loop.__name__) for loop in loops]

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def warm_sessions(self) -> None:
        """Once, at start-up: open sessions ahead of demand.  Locally up to the pool size; on the Grid
        only into slots that are free now, so warming never queues on the Grid or takes slots from its
        other clients."""
        snapshotter, grid = self.snapshotter, self.grid
        if snapshotter.grid is not None and grid is not None:
            try:
                status = await self._blocking(grid.status)
            except Exception as exc:
                log.warning("the Grid did not answer; no sessions opened ahead of demand: %s", exc)
                return
            snapshotter.grid.warm(min(snapshotter.grid.size, status.free_slots))
        elif snapshotter.local is not None:
            snapshotter.local.warm()

    async def reap_idle_sessions(self) -> None:
        """Every half idle timeout (0.5 to 15 s): close sessions unused for longer than
        ``SNAPSHOT_SESSION_IDLE_TIMEOUT``, so an idle replica gives its Grid slots back."""
        interval = min(15.0, max(0.5, self.settings.session_idle_timeout / 2))
        while True:
            await asyncio.sleep(interval)
            for backend in self.snapshotter.backends:
                try:
                    backend.reap_idle()
                except Exception:
                    log.exception("reaping idle sessions of backend %s failed", backend.name)

    async def sweep_cache(self) -> None:
        """Every minute (local storage only; on S3 a bucket lifecycle rule does it): remove cache entries
        that expired, keeping them ``SNAPSHOT_S3_PRESIGN_EXPIRES`` longer so a ``file_url`` handed out
        just before expiry stays readable, and other files older than ``SNAPSHOT_LOCAL_FILE_TTL``."""
        storage = self.storage
        assert isinstance(storage, LocalStorage)
        while True:
            await asyncio.sleep(CACHE_SWEEP_INTERVAL)
            try:
                grace, ttl = float(self.settings.s3_presign_expires), float(self.settings.local_file_ttl)
                await self._blocking(sweep_local, storage.directory, grace, ttl)
            except Exception:
                log.exception("the cache sweep failed")

    async def poll_grid_capacity(self) -> None:
        """Every 10 s: the Grid's slots and queue as this replica sees them, for the metrics."""
        grid, metrics = self.grid, self.metrics
        assert grid is not None
        while True:
            try:
                capacity = await self._blocking(grid.capacity)
                metrics.grid_slots.labels("total").set(capacity.slots)
                metrics.grid_slots.labels("free").set(capacity.free)
                metrics.grid_queue.set(capacity.queue)
                metrics.grid_up.set(1)
            except Exception as exc:
                metrics.grid_up.set(0)
                log.debug("grid capacity poll failed: %s", exc)
            await asyncio.sleep(GRID_POLL_INTERVAL)

    async def sweep_orphans(self) -> None:
        """Every half session lifetime (1 to 30 s): end the Grid sessions crashed replicas left behind,
        and this replica's own that its pool does not hold (they would hold slots until the node's
        timeout).  See ``grid.find_orphans`` for the rule."""
        interval = min(30.0, max(1.0, self.settings.session_max_age / 2))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._blocking(self.end_orphans)
            except Exception as exc:
                log.debug("orphan sweep failed: %s", exc)

    def end_orphans(self) -> int:
        """One sweep (blocking); returns how many sessions it ended."""
        grid, backend = self.grid, self.snapshotter.grid
        assert grid is not None and backend is not None
        settings = self.settings
        orphans = find_orphans(
            grid.sessions(),
            capability=INSTANCE_CAPABILITY,
            instance=self.instance,
            ours=backend.pool.session_ids(),
            own_grace=settings.session_timeout + 30,
            foreign_max_age=settings.session_max_age + settings.capture_timeout + 10,
        )
        ended = 0
        for orphan in orphans:
            log.warning(
                "ending orphaned Grid session %s (age %.0fs, replica %s)",
                orphan.id,
                orphan.age,
                orphan.capabilities.get(INSTANCE_CAPABILITY),
            )
            try:
                grid.end_session(orphan.id, registration_secret=settings.grid_registration_secret)
            except OSError as exc:
                log.warning("orphaned Grid session %s could not be ended: %s", orphan.id, exc)
                continue
            self.metrics.orphans_ended.inc()
            ended += 1
        return ended
