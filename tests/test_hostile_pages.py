"""Hostile pages end within the capture deadline with a clear status, and the next capture works."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import LOOPBACK, open_png

pytestmark = pytest.mark.integration

DEADLINE = 6.0
HOSTILE = {
    "alert-loop": "<script>for (let i = 0; i < 1000; i++) { alert(i); confirm(i); prompt(i); }</script>",
    "busy-loop": "<script>while (true) {}</script>",
    "never-loads": None,  # /slow?s=60 below: the load event never comes in time
    "endless-redirect": None,
    "download": None,
    "huge-document": "<script>document.write('<div>x</div>'.repeat(2000000))</script>",
    "popup-storm": "<script>for (let i = 0; i < 50; i++) window.open('/color/ff0000')</script>",
    "beforeunload": "<script>addEventListener('beforeunload', e => { e.preventDefault(); e.returnValue = 'stay'; })"
                    "</script>",
}


@pytest.fixture
def hostile_pages(pages):
    for name, body in HOSTILE.items():
        if body is not None:
            pages.routes[f"/hostile/{name}"] = lambda q, body=body: f"<!doctype html><html><body>{body}</body></html>"
    pages.routes["/hostile/endless-redirect"] = lambda q: (
        "", {"Location": f"/hostile/endless-redirect?n={int(q.get('n', 0)) + 1}"}, 302
    )
    pages.routes["/hostile/download"] = lambda q: ("x" * 100000, {"Content-Type": "application/octet-stream",
                                                                "Content-Disposition": "attachment; filename=x.bin"})
    yield pages
    for name in HOSTILE:
        pages.routes.pop(f"/hostile/{name}", None)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_page_ends_in_time_and_the_next_capture_works(start, hostile_pages, name):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "1",
                     "SNAPSHOT_CAPTURE_TIMEOUT": str(DEADLINE), "SNAPSHOT_PAGE_LOAD_TIMEOUT": str(DEADLINE)})
    path = "/slow?s=60" if name == "never-loads" else f"/hostile/{name}"
    started = time.monotonic()
    response = requests.get(f"{service.url}/create_snap", timeout=60,
                            params={"url": hostile_pages.base + path, "width": 120, "height": 80})
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + 3, f"{name} took {elapsed:.1f}s; the deadline is {DEADLINE}s"
    assert response.status_code in (200, 502, 504), response.text
    if response.status_code != 200:
        assert response.json()["status"] == "error"
    after = requests.get(f"{service.url}/create_snap", timeout=60,
                         params={"url": hostile_pages.base + "/color/00ff00", "width": 40, "height": 20})
    assert after.status_code == 200, after.text
    assert open_png(after.content).getpixel((20, 10)) == (0, 255, 0)
