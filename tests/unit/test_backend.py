"""The pool and the backend's logic, in-process, on fake sessions (``tests/fakes.py``): reuse and
recycling, the retry on a dead session, admission (a queue of N), deadlines and cancellation.
The same behaviours on real browsers and the real Grid: ``test_pool.py``, ``test_faults.py``."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import pytest

from service.browsers.backend import CaptureBackend
from service.browsers.pool import SessionPool
from service.capture import Backend, Phase, Timings
from service.errors import BackendUnavailable, CaptureTimeout, ClientGone, Overloaded, TargetUnreachable
from service.options import CaptureOptions, Endpoint
from service.params import CaptureRequest
from service.urls import parse_target_url
from tests.fakes import FakeBrowser, Hold

T = TypeVar("T")
REQUEST = CaptureRequest(
    parse_target_url("http://127.0.0.1/page", max_length=100), 40, 30, False, CaptureOptions(), Endpoint.SNAP
)


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def make_pool(browser: FakeBrowser, **kw: float) -> SessionPool:
    options = {"max_uses": 100, "max_age": 900.0, "idle_timeout": 120.0, **kw}
    return SessionPool(browser.factory, name=Backend.LOCAL, **options)  # type: ignore[arg-type]


@pytest.fixture
def browser() -> FakeBrowser:
    return FakeBrowser()


@pytest.fixture
def backend_of(browser: FakeBrowser) -> Iterator[object]:
    made: list[CaptureBackend] = []

    def make(size: int = 1, queue_size: int = 4, **pool: float) -> CaptureBackend:
        backend = CaptureBackend(Backend.LOCAL, make_pool(browser, **pool), size=size, queue_size=queue_size)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


async def capture(backend: CaptureBackend, seconds: float = 5.0, cancel: threading.Event | None = None) -> bytes:
    shot = await backend.capture(REQUEST, time.monotonic() + seconds, Timings(), cancel)
    return shot.data


# ------------------------------------------------------------------------------------------ pool


def test_the_pool_reuses_a_session_and_replaces_it_after_max_uses(browser):
    pool = make_pool(browser, max_uses=2)
    first, created = pool.acquire()
    assert created
    first.uses = 1
    pool.release(first)
    again, created = pool.acquire()
    assert again is first and not created
    again.uses = 2
    pool.release(again)  # worn out: closed, not parked
    assert first.closed
    third, created = pool.acquire()
    assert created and third is not first
    pool.close()


def test_a_broken_session_is_closed_on_release_and_never_handed_out_again(browser):
    pool = make_pool(browser)
    session, _ = pool.acquire()
    session.broken = True
    pool.release(session)
    assert session.closed
    assert pool.stats().idle == 0
    assert pool.acquire()[0] is not session
    pool.close()


def test_a_session_that_sat_idle_is_checked_and_replaced_when_dead(browser):
    pool = SessionPool(
        browser.factory, name=Backend.LOCAL, max_uses=100, max_age=900, idle_timeout=120, check_after_idle=0.0
    )  # type: ignore[arg-type]
    session, _ = pool.acquire()
    pool.release(session)
    session.alive = False
    fresh, created = pool.acquire()
    assert created and fresh is not session and session.closed
    pool.close()


def test_idle_sessions_are_reaped_and_close_empties_the_pool(browser):
    pool = make_pool(browser, idle_timeout=0.05)
    a, _ = pool.acquire()
    b, _ = pool.acquire()
    pool.release(a)
    time.sleep(0.1)
    assert pool.reap_idle() == 1 and a.closed
    pool.release(b)
    pool.close()
    assert b.closed
    with pytest.raises(BackendUnavailable):
        pool.acquire()
    assert pool.stats().closed == 2


def test_session_ids_are_every_session_held_idle_or_busy(browser):
    pool = make_pool(browser)
    a, _ = pool.acquire()
    b, _ = pool.acquire()
    pool.release(a)
    assert pool.session_ids() == {a.session_id, b.session_id}
    pool.release(b)
    pool.close()


# ------------------------------------------------------------------------------------------ backend


def test_a_capture_returns_the_png_records_its_phases_and_resets_the_session(browser, backend_of):
    backend = backend_of()
    timings = Timings()
    shot = run(backend.capture(REQUEST, time.monotonic() + 5, timings))
    assert shot.data.startswith(b"\x89PNG")
    assert {Phase.QUEUE, Phase.SESSION, Phase.NAVIGATE, Phase.SCREENSHOT} <= set(timings.seconds)
    backend.close()
    assert browser.sessions[0].resets == 1


def test_a_session_that_dies_mid_capture_is_replaced_and_the_capture_succeeds(browser, backend_of):
    backend = backend_of()
    browser.plan(BackendUnavailable("the node died"))
    png = run(capture(backend))
    assert png.startswith(b"\x89PNG")
    first, second = browser.sessions
    assert first.broken and first.closed
    assert browser.captures == [(second.id, REQUEST.url)]


def test_the_retry_happens_once(browser, backend_of):
    backend = backend_of()
    browser.plan(BackendUnavailable("the node died"), BackendUnavailable("the next one too"))
    with pytest.raises(BackendUnavailable, match="the next one too"):
        run(capture(backend))
    assert len(browser.sessions) == 2


def test_no_retry_when_the_deadline_leaves_no_time_for_it(browser, backend_of):
    backend = backend_of()
    browser.plan(BackendUnavailable("the node died"))
    with pytest.raises(BackendUnavailable, match="the node died"):
        run(capture(backend, seconds=0.8))  # a retry needs a second of deadline left
    assert len(browser.sessions) == 1


def test_other_errors_are_not_retried(browser, backend_of):
    backend = backend_of()
    browser.plan(TargetUnreachable("refused"))
    with pytest.raises(TargetUnreachable):
        run(capture(backend))
    assert len(browser.sessions) == 1


def test_a_session_that_cannot_be_opened_is_a_503(browser, backend_of):
    backend = backend_of()
    browser.open_error = BackendUnavailable("the Grid is down")
    with pytest.raises(BackendUnavailable, match="Grid is down"):
        run(capture(backend))


@pytest.mark.parametrize("queue_size", [0, 3])
def test_a_queue_of_n_admits_n_waiting_captures_and_refuses_the_next_at_once(browser, backend_of, queue_size):
    backend = backend_of(size=1, queue_size=queue_size)
    hold = Hold()
    browser.plan(*[hold] * (1 + queue_size))

    async def scenario() -> None:
        admitted = [asyncio.ensure_future(capture(backend)) for _ in range(1 + queue_size)]
        await asyncio.sleep(0.05)
        assert backend.in_flight == 1 + queue_size and backend.queued == queue_size
        started = time.monotonic()
        with pytest.raises(Overloaded):
            await capture(backend)
        assert time.monotonic() - started < 0.5
        hold.release.set()
        results = await asyncio.gather(*admitted)
        assert all(png.startswith(b"\x89PNG") for png in results)
        for _ in range(100):  # the last worker frees its slot once its session is reset, just after
            if backend.in_flight == 0:
                break
            await asyncio.sleep(0.01)

    run(scenario())
    assert backend.in_flight == 0


def test_a_capture_past_its_deadline_is_a_504_and_its_browser_is_told_to_stop(browser, backend_of):
    backend = backend_of()
    browser.plan(Hold(seconds=10))
    cancel = threading.Event()
    started = time.monotonic()
    with pytest.raises(CaptureTimeout):
        run(capture(backend, seconds=0.3, cancel=cancel))
    assert time.monotonic() - started < 1.0
    assert cancel.is_set()


def test_a_capture_whose_client_left_is_abandoned(browser, backend_of):
    backend = backend_of()
    browser.plan(Hold(seconds=10))
    cancel = threading.Event()

    async def scenario() -> None:
        task = asyncio.ensure_future(capture(backend, cancel=cancel))
        await asyncio.sleep(0.1)
        cancel.set()
        with pytest.raises(ClientGone):
            await task

    run(scenario())
