"""Hostile pages end within the capture deadline with a clear status, and the next capture works."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support import LOOPBACK, open_png

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
        "",
        {"Location": f"/hostile/endless-redirect?n={int(q.get('n', 0)) + 1}"},
        302,
    )
    pages.routes["/hostile/download"] = lambda q: (
        "x" * 100000,
        {"Content-Type": "application/octet-stream", "Content-Disposition": "attachment; filename=x.bin"},
    )
    yield pages
    for name in HOSTILE:
        pages.routes.pop(f"/hostile/{name}", None)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_page_ends_in_time_and_the_next_capture_works(start, hostile_pages, name):
    service = start(
        {
            "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
            "SNAPSHOT_LOCAL_POOL_SIZE": "1",
            "SNAPSHOT_CAPTURE_TIMEOUT": str(DEADLINE),
            "SNAPSHOT_PAGE_LOAD_TIMEOUT": str(DEADLINE),
        }
    )
    path = "/slow?s=60" if name == "never-loads" else f"/hostile/{name}"
    started = time.monotonic()
    response = requests.get(
        f"{service.url}/create_snap", timeout=60, params={"url": hostile_pages.base + path, "width": 120, "height": 80}
    )
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + 3, f"{name} took {elapsed:.1f}s; the deadline is {DEADLINE}s"
    assert response.status_code in (200, 502, 504), response.text
    if response.status_code != 200:
        assert response.json()["status"] == "error"
    after = requests.get(
        f"{service.url}/create_snap",
        timeout=60,
        params={"url": hostile_pages.base + "/color/00ff00", "width": 40, "height": 20},
    )
    assert after.status_code == 200, after.text
    assert open_png(after.content).getpixel((20, 10)) == (0, 255, 0)


def test_a_page_that_leaves_for_another_site_right_after_loading_is_still_captured(start, pages):
    """A script or meta refresh that navigates cross-site just after load lands during the screenshot;
    CDP's screenshot then never answers, or fails.  Every capture must still succeed, with a picture
    of the page or of where it went."""
    service = start(
        {
            "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
            "SNAPSHOT_LOCAL_POOL_SIZE": "1",
            "SNAPSHOT_CAPTURE_TIMEOUT": str(DEADLINE),
        }
    )
    elsewhere = pages.base.replace("127.0.0.1", "localhost") + "/color/ff0000"  # another site: a process swap
    pages.routes["/leaves"] = lambda q: (
        "<!doctype html><html><body style='background:#00ff00'><script>addEventListener('load', () => "
        f"setTimeout(() => location.href = '{elsewhere}', {int(q['ms'])}))</script></body></html>"
    )
    try:
        outcomes = []
        for delay in range(0, 40, 2):
            response = requests.get(
                f"{service.url}/create_snap",
                timeout=60,
                params={"url": f"{pages.base}/leaves?ms={delay}", "width": 60, "height": 40},
            )
            colour = open_png(response.content).getpixel((30, 20)) if response.status_code == 200 else None
            outcomes.append((delay, response.status_code, colour))
        assert all(status == 200 for _, status, _ in outcomes), outcomes
        assert {colour for _, _, colour in outcomes} <= {(0, 255, 0), (255, 0, 0)}, outcomes
    finally:
        pages.routes.pop("/leaves")
