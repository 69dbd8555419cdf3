"""Single flight: identical requests in flight at the same time are rendered once and answered together.

In a replica, the first request of a key renders and the others await its result.  With Redis
(``SNAPSHOT_REDIS_URL``) a lock per key also spans replicas: the replica holding it renders and stores
the result in the cache; the others wait for the lock to go and read the cache.  If the holder failed
or died (its lock expires), the next one renders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import RedisError

from service.errors import CaptureTimeout

log = logging.getLogger("snapshot.flight")

T = TypeVar("T")

LOCK_PREFIX = "snapshot:flight:"
POLL = 0.05  # seconds between two looks at another replica's lock
# delete the lock only if this replica still holds it
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class Flights:
    def __init__(self, redis: Any | None = None) -> None:
        self.redis = redis  # redis.asyncio.Redis, or None: this replica only
        self._calls: dict[str, asyncio.Future[Any]] = {}
        self.shared = 0  # requests answered by another request's render (tests, logs)

    async def run(
        self,
        key: str,
        render: Callable[[], Awaitable[T]],
        peek: Callable[[], Awaitable[T | None]],
        deadline: float,
    ) -> T:
        """``render()`` once for all concurrent callers of ``key``; across replicas, ``peek()`` reads what
        another replica rendered (None: nothing, render here)."""
        pending = self._calls.get(key)
        if pending is not None:
            self.shared += 1
            result: T = await asyncio.shield(pending)
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even with no waiter
        self._calls[key] = future
        try:
            result = await (self._across(key, render, peek, deadline) if self.redis is not None else render())
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            del self._calls[key]
        future.set_result(result)
        return result

    async def _across(
        self,
        key: str,
        render: Callable[[], Awaitable[T]],
        peek: Callable[[], Awaitable[T | None]],
        deadline: float,
    ) -> T:
        assert self.redis is not None
        lock, token = LOCK_PREFIX + key, uuid.uuid4().hex
        ttl_ms = max(1000, int((deadline - time.monotonic()) * 1000))
        while True:
            try:
                acquired = await self.redis.set(lock, token, nx=True, px=ttl_ms)
            except RedisError as exc:  # the shared lock is an optimisation: without Redis, render here
                log.warning("single flight across replicas unavailable (%s); rendering here", exc)
                return await render()
            if acquired:
                try:
                    return await render()
                finally:
                    with contextlib.suppress(RedisError):  # else it expires by itself
                        await self.redis.eval(_RELEASE, 1, lock, token)
            # another replica renders it: wait for its lock to go, then read what it stored
            try:
                while await self.redis.exists(lock):
                    if time.monotonic() >= deadline:
                        raise CaptureTimeout("an identical capture on another replica did not finish in time")
                    await asyncio.sleep(POLL)
            except RedisError as exc:
                log.warning("single flight across replicas unavailable (%s); rendering here", exc)
                return await render()
            found = await peek()
            if found is not None:
                self.shared += 1
                return found
