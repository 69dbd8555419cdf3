"""A capture backend: a bounded worker pool in front of a session pool, with admission control.

``size`` worker threads each hold at most one browser session, so the backend never uses more
browser slots than ``size``.  At most ``queue_size`` further captures may wait for a worker; past
that, :class:`~service.errors.Overloaded` (429) is raised at once instead of growing a queue.  The
capture deadline covers queue time: a capture that waited too long never starts.  The IOLoop never
blocks: it awaits the worker's future with the remaining time and answers 504 when it runs out.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from service.browsers.pool import SessionPool
from service.browsers.shots import Shot
from service.capture import Backend, Phase, Timings
from service.errors import BackendUnavailable, CaptureTimeout, Overloaded
from service.params import CaptureRequest

log = logging.getLogger("snapshot.backend")

_MIN_RETRY_TIME = 1.0  # seconds of deadline a retry needs to be worth starting


class CaptureBackend:
    def __init__(
        self,
        name: Backend,
        pool: SessionPool,
        *,
        size: int,
        queue_size: int,
        on_failure: Callable[[str | None], object] | None = None,
    ) -> None:
        self.name = name
        # called with the id of a session that died (None: one could not be started), before the capture is
        # retried (NodeLoss.sweep)
        self.on_failure = on_failure
        self.pool = pool
        self.size = size
        self.queue_size = queue_size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"capture-{name}")
        self._admitted = 0  # running + waiting; touched on the IOLoop thread only

    @property
    def in_flight(self) -> int:
        return self._admitted

    @property
    def queued(self) -> int:
        return max(0, self._admitted - self.size)

    def warm(self, count: int | None = None) -> None:
        """Open sessions ahead of demand, in the background."""
        for _ in range(self.size if count is None else count):
            self._executor.submit(self._warm_one)

    def _warm_one(self) -> None:
        try:
            self.pool.warm()
        except Exception as exc:  # warming is best effort; captures report failures
            log.warning("backend %s: could not open a warm session: %s", self.name, exc)

    def reap_idle(self) -> None:
        if self._admitted < self.size:
            self._executor.submit(self.pool.reap_idle)

    async def capture(
        self, request: CaptureRequest, deadline: float, timings: Timings, cancel: threading.Event | None = None
    ) -> Shot:
        """What the capture produced; the phases it ran are added to ``timings``.  Setting ``cancel`` (the client left)
        abandons the capture."""
        if self._admitted >= self.size + self.queue_size:
            raise Overloaded(f"{self._admitted} captures are running or waiting; try again shortly")
        loop = asyncio.get_running_loop()
        cancelled = cancel if cancel is not None else threading.Event()
        result: Future[Shot] = Future()
        self._admitted += 1
        # in a copy of this task's context: the trace the capture belongs to (service/tracing.py)
        context = contextvars.copy_context()
        work = self._executor.submit(
            context.run, self._work, result, request, deadline, cancelled, timings, time.monotonic()
        )
        # the slot is free only when the worker is done, reset included
        work.add_done_callback(lambda _: loop.call_soon_threadsafe(self._finished))
        try:
            shot = await asyncio.wait_for(asyncio.wrap_future(result), timeout=max(0.0, deadline - time.monotonic()))
        except (TimeoutError, asyncio.CancelledError) as exc:
            cancelled.set()
            work.cancel()  # only stops it if it has not started
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise CaptureTimeout("the capture did not finish before its deadline") from None
        return shot

    def _finished(self) -> None:
        self._admitted -= 1

    def _work(
        self,
        result: Future[Shot],
        request: CaptureRequest,
        deadline: float,
        cancelled: threading.Event,
        timings: Timings,
        submitted: float,
    ) -> None:
        """Runs in a worker: capture, hand the PNG over, then reset the session off the response's path."""
        timings.add(Phase.QUEUE, time.monotonic() - submitted)
        if not result.set_running_or_notify_cancel():
            return
        for attempt in (1, 2):
            if cancelled.is_set() or time.monotonic() >= deadline:
                result.set_exception(CaptureTimeout("the capture deadline passed while it waited for a browser"))
                return
            try:
                with timings.measure(Phase.SESSION):
                    session, _ = self.pool.acquire(deadline)
            except BackendUnavailable as exc:
                # no session could be started (e.g. the Grid routed the request to a node that is gone):
                # once, look for dead nodes and try again
                if attempt == 1 and self._recover(exc, deadline, None):
                    continue
                result.set_exception(exc)
                return
            except Exception as exc:
                result.set_exception(exc)
                return
            retry = False
            try:
                result.set_result(session.capture(request, deadline, timings, cancelled))
            except BackendUnavailable as exc:
                # The session died (its Grid node was lost, the Grid restarted, the browser crashed):
                # it leaves the pool, and the capture is tried once more on a new session if the
                # deadline leaves time for it.
                retry = attempt == 1 and self._recover(exc, deadline, session.session_id)
                if retry:
                    log.warning(
                        "backend %s: session %s failed (%s); retrying on a new session",
                        self.name,
                        session.id,
                        exc.message,
                    )
                else:
                    result.set_exception(exc)
            except Exception as exc:
                result.set_exception(exc)
            finally:
                session.reset()
                self.pool.release(session)
            if not retry:
                return

    def _recover(self, exc: BackendUnavailable, deadline: float, session_id: str | None) -> bool:
        """After a session failure: lets ``on_failure`` clean up (dead nodes); True if a retry fits in."""
        if self.on_failure is not None:
            try:
                self.on_failure(session_id)
            except Exception:
                log.exception("backend %s: recovering from %s failed", self.name, exc.message)
        return deadline - time.monotonic() > _MIN_RETRY_TIME

    def close(self) -> None:
        """Stop taking work, wait for running captures, close every session."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.pool.close()
