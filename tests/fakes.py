"""A small in-process stand-in for a browser session, for tests of pure logic (pool, backend, retry,
handlers).  It implements the session interface the pool and backend use (``browsers.pool.Session``)
and returns real PNGs of the requested size; what each capture does is scripted.  Everything that
needs a browser is tested against real Chromium and the real Grid in the integration suite."""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from PIL import Image

from service.browsers.page import PageInfo
from service.browsers.shots import Shot
from service.capture import Phase, Timings
from service.errors import BackendUnavailable, CaptureTimeout, ClientGone, SnapshotError
from service.params import CaptureRequest

_ids = itertools.count(1)


def png(width: int, height: int, color: tuple[int, int, int] = (32, 96, 160)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


@dataclass(frozen=True)
class Hold:
    """A capture step that waits: until ``release`` is set, or ``seconds`` pass, or the client leaves."""

    release: threading.Event = field(default_factory=threading.Event)
    seconds: float = 30.0


Step = SnapshotError | Hold | None  # None: a capture that succeeds at once


class FakeBrowser:
    """Opens ``FakeSession``s (``factory``) and scripts their captures: ``plan(step, ...)`` queues what
    the next captures do, in order; when the plan is empty captures succeed."""

    def __init__(self) -> None:
        self.sessions: list[FakeSession] = []
        self.open_error: SnapshotError | None = None
        self.requests: list[CaptureRequest] = []  # every request captured, in order
        self.color = (32, 96, 160)  # of every picture: a page that changes, for monitors
        self._plan: deque[Step] = deque()
        self._lock = threading.Lock()

    def plan(self, *steps: Step) -> None:
        with self._lock:
            self._plan.extend(steps)

    def next_step(self) -> Step:
        with self._lock:
            return self._plan.popleft() if self._plan else None

    def factory(self) -> FakeSession:
        if self.open_error is not None:
            raise self.open_error
        session = FakeSession(self)
        with self._lock:
            self.sessions.append(session)
        return session

    @property
    def captures(self) -> list[tuple[int, str]]:
        """(session id, url) of every capture, in order."""
        return [entry for session in self.sessions for entry in session.captured]


@dataclass(eq=False)
class FakeSession:
    browser: FakeBrowser
    id: int = field(default_factory=lambda: next(_ids))
    uses: int = 0
    broken: bool = False
    alive: bool = True
    closed: bool = False
    resets: int = 0
    created: float = field(default_factory=time.monotonic)
    captured: list[tuple[int, str]] = field(default_factory=list)

    @property
    def age(self) -> float:
        return time.monotonic() - self.created

    @property
    def session_id(self) -> str:
        return f"fake-{self.id}"

    def capture(
        self, request: CaptureRequest, deadline: float, timings: Timings, cancel: threading.Event | None = None
    ) -> Shot:
        self.uses += 1
        step = self.browser.next_step()
        if isinstance(step, Hold):
            until = min(deadline, time.monotonic() + step.seconds)
            while not step.release.is_set() and time.monotonic() < until:
                if cancel is not None and cancel.is_set():
                    raise ClientGone("the client disconnected; the capture was abandoned")
                time.sleep(0.01)
            if not step.release.is_set() and time.monotonic() >= deadline:  # as a real session does
                raise CaptureTimeout("the capture did not finish before its deadline")
        elif isinstance(step, SnapshotError):
            if isinstance(step, BackendUnavailable):
                self.broken = True
            raise step
        timings.add(Phase.NAVIGATE, 0.001)
        timings.add(Phase.SCREENSHOT, 0.001)
        self.captured.append((self.id, request.url))
        self.browser.requests.append(request)
        info = PageInfo(final_url=request.url, http_status=200, title="fake", height=request.height)
        data = png(request.width, request.height, self.browser.color)
        return Shot(data, "png", info, request.width, request.height, page_height=request.height)

    def reset(self) -> None:
        self.resets += 1

    def is_alive(self) -> bool:
        return self.alive

    def close(self) -> None:
        self.closed = True
