"""A Grid session's DevTools connection: on its node directly (one Java relay instead of two), through the
Grid's router when the node cannot be reached."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from service.browsers.cdp import CdpConnection, CdpTimeout
from service.browsers.factories import _connect, grid_session_factory
from service.browsers.grid import CdpEndpoint, GridApi
from service.browsers.session import BrowserSession
from service.capture import Timings
from service.config import Settings
from service.options import CaptureOptions, Endpoint
from service.params import CaptureRequest
from service.urls import parse_target_url
from tests.servers import Grid, PageServer, free_port
from tests.support import open_png

pytestmark = pytest.mark.integration


@pytest.fixture
def grid_session(grid: Grid) -> Iterator[BrowserSession]:
    session = grid_session_factory(Settings.from_env({"SNAPSHOT_GRID_URL": grid.url}))()
    try:
        yield session
    finally:
        session.close()


def test_the_devtools_connection_goes_to_the_sessions_node(grid, grid_session, pages: PageServer):
    node = next(n for n in GridApi(grid.url).nodes() if grid_session.session_id in n.sessions)
    node_address = node.uri.replace("http://", "ws://").rstrip("/")
    assert grid_session.cdp.url == f"{node_address}/session/{grid_session.session_id}/se/cdp"
    assert not grid_session.cdp.url.startswith(grid.url.replace("http://", "ws://"))

    target = parse_target_url(f"{pages.base}/color/3366cc", max_length=2048)
    request = CaptureRequest(target, 40, 30, False, CaptureOptions(), Endpoint.SNAP)
    shot = grid_session.capture(request, time.monotonic() + 20, Timings())
    assert open_png(shot.data).getpixel((20, 15)) == (0x33, 0x66, 0xCC)


def test_a_node_that_refuses_leaves_the_connection_to_the_grids_router_for_a_while(grid, grid_session):
    api = GridApi(grid.url)
    session_id, capabilities = grid_session.session_id, grid_session.driver.capabilities
    direct, router = api.cdp_endpoints(session_id, capabilities)
    # the node's endpoint, as a node the service cannot reach would answer
    refused = CdpEndpoint(f"ws://127.0.0.1:{free_port()}/session/{session_id}/se/cdp", {}, direct.refused)
    connection = _connect([refused, router], timeout=10)
    try:
        assert connection.url == router.url == api.cdp_url(capabilities)
        assert "Chrome" in connection.command("Browser.getVersion", {}, timeout=5)["product"]
    finally:
        connection.close()
    assert api.cdp_endpoints(session_id, capabilities) == [router]  # the next sessions do not try the node


def test_a_session_no_node_lists_is_reached_through_the_router(grid, grid_session):
    capabilities = grid_session.driver.capabilities
    endpoints = GridApi(grid.url).cdp_endpoints("not-a-session-of-this-grid", capabilities)
    assert [e.url for e in endpoints] == [GridApi(grid.url).cdp_url(capabilities)]


def test_a_kept_answer_waits_while_other_commands_run_and_a_forgotten_one_is_dropped(grid_session):
    cdp: CdpConnection = grid_session.cdp
    kept = cdp.send_kept("Target.getTargets", {})
    forgotten = cdp.send_kept("Browser.getVersion", {})
    cdp.forget(forgotten)
    assert "Chrome" in cdp.command("Browser.getVersion", {}, timeout=5)["product"]  # both answers come meanwhile
    assert any(t["type"] == "page" for t in cdp.kept_answer(kept, "Target.getTargets", timeout=5)["targetInfos"])
    with pytest.raises(CdpTimeout):
        cdp.kept_answer(forgotten, "Browser.getVersion", timeout=0.5)


def test_the_pages_isolated_world_is_made_while_it_loads(grid_session, pages: PageServer):
    """The page's description costs one round trip after the load event (its evaluate), not two."""
    sent: list[str] = []
    ws = grid_session.cdp._ws
    send, on_event = ws.send, grid_session.cdp.on_event

    def recording_send(data: str, *args: object) -> object:
        sent.append(json.loads(data)["method"])
        return send(data, *args)

    def recording_event(message: dict) -> None:
        if message["method"] == "Page.loadEventFired":
            sent.append("(load)")
        assert on_event is not None
        on_event(message)

    ws.send, grid_session.cdp.on_event = recording_send, recording_event
    target = parse_target_url(f"{pages.base}/cards?n=20", max_length=2048)
    request = CaptureRequest(target, 400, 300, False, CaptureOptions(), Endpoint.SNAP)
    shot = grid_session.capture(request, time.monotonic() + 20, Timings())
    assert shot.info.title == "" and shot.info.http_status == 200 and shot.info.height > 300
    start = sent.index("Page.navigate")
    assert sent[start:] == [
        "Page.navigate",
        "Page.createIsolatedWorld",
        "(load)",
        "Runtime.evaluate",
        "Page.captureScreenshot",
    ]
