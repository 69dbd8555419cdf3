"""The warm session pool, observed on the real Grid: reuse, recycling, idle release, warm-up bounds."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from tests.servers import wait_until
from tests.support import LOOPBACK

pytestmark = pytest.mark.integration


def session_ids(grid) -> set[str]:
    ids = {slot["session"]["sessionId"] for slot in grid.slots() if slot.get("session")}
    return ids - {"reserved"}  # a slot whose session is still being created


COLOR = "/color/336699"


@pytest.fixture
def grid_pool(start, grid):
    """A factory of Grid-backed services; returns (service, the Grid sessions it opened so far)."""

    def make(**env):
        before = session_ids(grid)
        settings = {f"SNAPSHOT_{k.upper()}": str(v) for k, v in env.items()}
        service = start(
            {
                "SNAPSHOT_GRID_URL": grid.url,
                "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
                "SNAPSHOT_ALLOW_LOCALMODE": "false",
                **settings,
            }
        )
        return service, lambda: session_ids(grid) - before

    return make


def test_sessions_are_opened_ahead_and_reused(snap, grid_pool, pages):
    service, ours = grid_pool(pool_size=1)
    wait_until(lambda: len(ours()) == 1, 20, "a warm session")
    warm = ours()
    for _ in range(5):
        assert snap(service, COLOR, 64, 64).status_code == 200
    assert ours() == warm  # five captures, one Grid session


def test_a_session_is_replaced_after_max_uses(snap, grid_pool, pages):
    service, ours = grid_pool(pool_size=1, session_max_uses=2)
    seen = set()
    for _ in range(6):
        assert snap(service, COLOR, 64, 64).status_code == 200
        seen |= ours()
    assert len(seen) >= 3
    assert len(ours()) <= 1  # replaced ones were closed, not leaked


def test_a_session_is_replaced_after_an_error(snap, grid_pool, pages):
    service, ours = grid_pool(pool_size=1, capture_timeout=2)
    assert snap(service, COLOR, 64, 64).status_code == 200
    first = ours()
    assert snap(service, "/slow?s=6", 64, 64).status_code == 504
    assert snap(service, COLOR, 64, 64).status_code == 200
    assert ours() and ours().isdisjoint(first)


def test_idle_sessions_are_given_back_to_the_grid(snap, grid_pool, pages):
    service, ours = grid_pool(pool_size=1, session_idle_timeout=1)
    assert snap(service, COLOR, 64, 64).status_code == 200
    wait_until(lambda: not ours(), 15, "the idle session to be closed")
    assert snap(service, COLOR, 64, 64).status_code == 200  # and a new one is opened on demand


def test_warm_up_never_takes_more_slots_than_are_free(snap, grid_pool, grid, pages):
    free = sum(1 for slot in grid.slots() if not slot.get("session"))
    service, ours = grid_pool(pool_size=8)
    time.sleep(3)
    assert 0 < len(ours()) <= free
    assert snap(service, COLOR, 64, 64).status_code == 200


def test_recycled_local_browsers_leave_nothing_in_the_temporary_directory(snap, start, pages):
    """Chromium leaves its singleton-socket directory in TMPDIR each time it exits; a service that
    replaces sessions for days must not pile them up."""
    tmp_path = Path(tempfile.mkdtemp())  # short: Chromium's socket path must fit in 108 bytes
    service = start(
        {
            "TMPDIR": str(tmp_path),
            "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
            "SNAPSHOT_LOCAL_POOL_SIZE": "1",
            "SNAPSHOT_SESSION_MAX_USES": "1",
        }
    )
    for _ in range(3):
        assert snap(service, COLOR, 64, 64).status_code == 200
    wait_until(lambda: any(tmp_path.iterdir()), 10, "a browser's temporary files")  # the check can see them
    service.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
