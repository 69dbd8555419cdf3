"""A pool of warm browser sessions, shared by the capture worker threads of one backend.

Sessions are reused for many captures (isolated from each other, see ``isolation``), and
replaced after ``max_uses`` captures, after ``max_age`` seconds, at once after any error, and when
they sat unused longer than ``idle_timeout`` (so an idle service gives its Grid slots back and the
Grid can scale down).  The number of sessions never exceeds the number of worker threads, because
only a worker holds a session.  Thread-safe; all methods block.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from service.browsers.shots import Shot
from service.capture import Timings
from service.errors import BackendUnavailable
from service.params import CaptureRequest

log = logging.getLogger("snapshot.pool")


class Session(Protocol):
    """What the pool and the backend need of a browser session (``session.BrowserSession``)."""

    id: int
    uses: int
    broken: bool

    @property
    def age(self) -> float: ...

    @property
    def session_id(self) -> str: ...

    def capture(
        self, request: CaptureRequest, deadline: float, timings: Timings, cancel: threading.Event | None = None
    ) -> Shot: ...

    def reset(self) -> None: ...

    def is_alive(self) -> bool: ...

    def close(self) -> None: ...


SessionFactory = Callable[[], Session]


@dataclass(frozen=True)
class PoolStats:
    idle: int
    busy: int
    created: int
    closed: int


class SessionPool:
    def __init__(
        self,
        factory: SessionFactory,
        *,
        name: str,
        max_uses: int,
        max_age: float,
        idle_timeout: float,
        check_after_idle: float = 15.0,
        on_event: Callable[[str], None] | None = None,
        room: Callable[[], int] | None = None,
    ) -> None:
        self._factory = factory
        self._on_event = on_event or (lambda event: None)  # "opened" / "closed", for metrics
        self.name = name
        self._max_uses = max_uses
        self._max_age = max_age
        self._idle_timeout = idle_timeout
        self._check_after_idle = check_after_idle
        # free slots a new session could take now (the Grid's, on nodes that answer); None: no limit
        self._room = room
        self._opening = 0  # sessions this pool is opening now
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)
        self._idle: deque[tuple[Session, float]] = deque()  # (session, idle since); newest last
        self._busy: dict[int, Session] = {}
        self._created = 0
        self._closed_count = 0
        self._closed = False

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(len(self._idle), len(self._busy), self._created, self._closed_count)

    def session_ids(self) -> set[str]:
        """WebDriver session ids of every session this pool holds (idle or busy)."""
        with self._lock:
            sessions = [s for s, _ in self._idle] + list(self._busy.values())
        return {s.session_id for s in sessions}

    def _expired(self, session: Session) -> bool:
        return session.broken or session.uses >= self._max_uses or session.age >= self._max_age

    def acquire(self, deadline: float | None = None) -> tuple[Session, bool]:
        """A session for one capture, and whether it was just created.

        When no session is idle, the Grid has no free slot and this pool's own sessions are busy (e.g.
        after a node was lost, the Grid has fewer slots than this pool has workers), it waits for one of
        its own to come back rather than queueing at the Grid for a slot it holds itself."""
        while True:
            with self._lock:
                if self._closed:
                    raise BackendUnavailable("the service is shutting down")
                entry = self._idle.pop() if self._idle else None
                if entry is not None:
                    self._busy[entry[0].id] = entry[0]
                own_busy = bool(self._busy) or self._opening > 0
                opening = self._opening
            if entry is None:
                # the Grid's count does not yet show the sessions this pool is opening: leave them their slots
                if own_busy and self._room is not None and self._free_slots() <= opening:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise BackendUnavailable("no free browser slot before the capture's deadline")
                    with self._released:
                        self._released.wait(timeout=0.25)
                    continue
                break
            session, idle_since = entry
            if self._expired(session) or (
                time.monotonic() - idle_since > self._check_after_idle and not session.is_alive()
            ):
                self._discard(session)
                continue
            return session, False
        with self._lock:
            self._opening += 1
        try:
            session = self._factory()
        finally:
            with self._lock:
                self._opening -= 1
                self._released.notify_all()
        with self._lock:
            self._created += 1
            self._busy[session.id] = session
        self._on_event("opened")
        log.debug("pool %s: opened session %s", self.name, session.id)
        return session, True

    def _free_slots(self) -> int:
        assert self._room is not None
        try:
            return self._room()
        except Exception:  # the Grid did not answer: asking it for a session will say more
            return 1 << 30

    def break_sessions(self, session_ids: frozenset[str] | set[str]) -> int:
        """Marks this pool's sessions with these WebDriver ids broken (their node is gone): they are
        closed instead of reused.  Returns how many."""
        with self._lock:
            sessions = [s for s, _ in self._idle] + list(self._busy.values())
        hit = [s for s in sessions if s.session_id in session_ids]
        for session in hit:
            session.broken = True
        return len(hit)

    def release(self, session: Session) -> None:
        if self._expired(session):
            self._discard(session)
            return
        with self._lock:
            self._busy.pop(session.id, None)
            if not self._closed:
                self._idle.append((session, time.monotonic()))
                self._released.notify_all()
                return
        self._close(session)

    def _discard(self, session: Session) -> None:
        with self._lock:
            self._busy.pop(session.id, None)
            self._released.notify_all()
        self._close(session)

    def _close(self, session: Session) -> None:
        session.close()
        with self._lock:
            self._closed_count += 1
        self._on_event("closed")
        log.debug("pool %s: closed session %s after %d captures", self.name, session.id, session.uses)

    def warm(self) -> None:
        """Open one session ahead of demand and park it idle."""
        session, _ = self.acquire()
        self.release(session)

    def reap_idle(self) -> int:
        """Close sessions unused for longer than the idle timeout; returns how many."""
        now = time.monotonic()
        with self._lock:
            stale = [s for s, since in self._idle if now - since > self._idle_timeout or self._expired(s)]
            stale_ids = {s.id for s in stale}
            self._idle = deque((s, since) for s, since in self._idle if s.id not in stale_ids)
        for session in stale:
            self._close(session)
        return len(stale)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [s for s, _ in self._idle]
            self._idle.clear()
        for session in idle:
            self._close(session)
