"""The capture use case with its delivery: a cached result when one may be served, one render for
identical requests in flight, and the result stored when the answer needs a ``file_url``."""

from __future__ import annotations

import dataclasses
import threading
import time

from service.browsers.backend import CaptureBackend
from service.delivery.cache import CaptureCache, cache_key
from service.delivery.flight import Flights
from service.delivery.results import Result
from service.images import EXTENSIONS
from service.metrics import Metrics
from service.params import CaptureRequest
from service.snapshots import Snapshotter


class Renderer:
    def __init__(self, snapshotter: Snapshotter, cache: CaptureCache, flights: Flights, metrics: Metrics) -> None:
        self.snapshotter = snapshotter
        self.cache = cache
        self.flights = flights
        self.metrics = metrics
        self.clock = cache.clock  # when results are rendered, and how old they are

    def age(self, result: Result) -> int:
        return result.age(self.clock())

    async def result(
        self,
        request: CaptureRequest,
        backend: CaptureBackend,
        *,
        tenant: str,
        store: bool,
        cancel: threading.Event | None = None,
    ) -> Result:
        """The request's result; stored (``result.key``) when ``store`` or when it is cached.  Setting
        ``cancel`` abandons an uncached render (a cached one finishes for whoever else waits)."""
        ttl = request.options.cache_ttl
        if ttl == 0:
            result = Result.of(await self.snapshotter.capture(request, backend, cancel), self.clock())
            if store:
                await self._store(result)
            return result
        key = cache_key(request, tenant)
        if not request.options.fresh:
            hit = await self.cache.lookup(key, ttl)
            if hit is not None:
                self.metrics.cache_lookups.labels("hit").inc()
                return hit
        self.metrics.cache_lookups.labels("miss").inc()

        async def render() -> Result:
            rendered = Result.of(await self.snapshotter.capture(request, backend), self.clock())
            await self.cache.put(key, rendered, ttl)
            return rendered

        async def peek() -> Result | None:
            return await self.cache.lookup(key, ttl)

        # the capture's deadline and the storage's own budget
        deadline = time.monotonic() + 2 * self.snapshotter.settings.capture_timeout
        return await self.flights.run(key, render, peek, deadline)

    async def _store(self, result: Result) -> None:
        assert result.data is not None
        result.key = self.snapshotter.storage.new_key(EXTENSIONS[result.format])
        timings = result.capture.timings if result.capture is not None else None
        await self.snapshotter.store(result.key, result.data, result.media_type, timings)

    async def with_data(
        self, result: Result, request: CaptureRequest, backend: CaptureBackend, *, tenant: str
    ) -> Result:
        """``result`` with its bytes, read from storage for a cache hit; if the cached file went away since
        its lookup, the request rendered again (and cached anew)."""
        if result.data is None:
            result.data = await self.cache.read(result)
        if result.data is not None:
            return result
        fresh = dataclasses.replace(request, options=dataclasses.replace(request.options, fresh=True))
        return await self.result(fresh, backend, tenant=tenant, store=False)
