"""Faults caused for real on real processes: a Grid node killed mid-capture, the Grid down and back,
S3 down and back, a client that hangs up, crashed replicas' sessions left on the Grid."""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests
from selenium import webdriver

from service.browsers.grid import GridApi
from service.browsers.nodes import NodeLoss
from tests.servers import free_port, start_grid, start_s3, wait_until
from tests.support import LOOPBACK, open_png

pytestmark = pytest.mark.integration


COLOR = "/color/2266aa"


def grid_env(grid, **extra):
    return {
        "SNAPSHOT_GRID_URL": grid.url,
        "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
        "SNAPSHOT_ALLOW_LOCALMODE": "false",
        **{f"SNAPSHOT_{k.upper()}": str(v) for k, v in extra.items()},
    }


@pytest.fixture
def own_grid():
    grid = start_grid(nodes=2, max_sessions=1)
    yield grid
    grid.stop()


def test_a_node_killed_mid_capture_costs_a_retry_not_the_request(snap, start, own_grid, pages):
    service = start(grid_env(own_grid, pool_size=1, capture_timeout=40))
    wait_until(lambda: own_grid.sessions() == 1, 20, "the warm session")
    busy_node = next(
        i for i, node in enumerate(own_grid.status()["nodes"]) if any(slot.get("session") for slot in node["slots"])
    )
    node_uri = own_grid.status()["nodes"][busy_node]["uri"]
    victim = next(
        p
        for p, args in zip(own_grid.nodes, own_grid.node_args, strict=True)
        if f"--port {urlsplit(node_uri).port}" in " ".join(args)
    )
    with ThreadPoolExecutor(1) as pool:
        pages.hits.clear()
        in_flight = pool.submit(snap, service, "/slow?s=3", 60, 40)
        wait_until(lambda: "/slow" in pages.hits, 20, "the capture to reach the page")
        victim.signal(signal.SIGKILL)  # the node's JVM, its ChromeDriver and Chrome, at once
        response = in_flight.result()
    # the dead session was noticed at once, its node taken out of the Grid, and the capture retried on
    # the remaining node within its deadline: the client sees a picture, not an error
    assert response.status_code == 200, response.text
    assert open_png(response.content).size == (60, 40)
    log = service.proc.log_path.read_text()
    assert "retrying on a new session" in log and "removed it from the Grid" in log
    assert node_uri not in {node["uri"] for node in own_grid.status()["nodes"]}
    for _ in range(3):
        assert snap(service, COLOR, 60, 40).status_code == 200


def test_after_a_node_is_lost_no_capture_fails_or_waits_for_it(snap, start, own_grid, pages):
    """Warm sessions on both nodes, one node SIGKILLed between captures: every capture of the next
    seconds succeeds, none waits out the session timeout, and the dead node leaves the Grid."""
    service = start(grid_env(own_grid, pool_size=2, session_timeout=15, capture_timeout=30))

    def idle_sessions() -> float:
        scrape = requests.get(f"{service.url}/metrics", timeout=5).text
        line = next(
            x for x in scrape.splitlines() if x.startswith('snapshot_pool_sessions{backend="grid",state="idle"}')
        )
        return float(line.split()[-1])

    wait_until(lambda: idle_sessions() == 2, 30, "two warm sessions in the pool")
    own_grid.nodes[0].signal(signal.SIGKILL)
    killed = time.monotonic()
    answers: list[tuple[int, float]] = []

    def one(_: int) -> None:
        started = time.monotonic()
        answers.append((snap(service, COLOR, 60, 40).status_code, time.monotonic() - started))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, range(30)))
    assert [code for code, _ in answers] == [200] * 30
    assert max(seconds for _, seconds in answers) < 15, "a capture waited for the dead node"
    assert len(own_grid.status()["nodes"]) == 1
    assert time.monotonic() - killed < 60
    assert "snapshot_grid_nodes_removed_total 1.0" in requests.get(f"{service.url}/metrics", timeout=5).text


def test_grid_down_fails_fast_and_the_service_recovers_when_it_returns(snap, start, pages):
    grid = start_grid(nodes=1, max_sessions=1)
    port = urlsplit(grid.url).port
    try:
        service = start(grid_env(grid, pool_size=1, session_timeout=5))
        assert snap(service, COLOR, 60, 40).status_code == 200
        grid.stop()
        started = time.monotonic()
        response = snap(service, COLOR, 60, 40)
        assert response.status_code == 503 and response.json()["error"] == "backend_unavailable"
        assert int(response.headers["Retry-After"]) > 0
        assert time.monotonic() - started < 8, "a Grid outage must fail in seconds, not minutes"
        wait_until(lambda: requests.get(f"{service.url}/readyz").status_code == 503, 10, "readiness to fail")
        assert "grid" in requests.get(f"{service.url}/readyz").json()["message"]
        grid = start_grid(nodes=1, max_sessions=1, port=port)  # the same address, a new Grid
        wait_until(lambda: requests.get(f"{service.url}/readyz").status_code == 200, 20, "readiness to return")
        response = snap(service, COLOR, 60, 40)
        assert response.status_code == 200, response.text  # no restart needed
    finally:
        grid.stop()


def test_with_the_local_fallback_a_grid_outage_opens_the_circuit_and_its_return_closes_it(snap, start, pages):
    port = free_port()
    service = start(
        {
            "SNAPSHOT_GRID_URL": f"http://127.0.0.1:{port}",  # the Grid is down
            "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
            "SNAPSHOT_ALLOW_LOCALMODE": "false",
            "SNAPSHOT_GRID_FALLBACK": "local",
            "SNAPSHOT_GRID_FALLBACK_THRESHOLD": "2",
            "SNAPSHOT_GRID_FALLBACK_COOLDOWN": "2",
            "SNAPSHOT_LOCAL_POOL_SIZE": "1",
        }
    )
    first = snap(service, COLOR, 60, 40)
    assert first.status_code == 503 and first.json()["error"] == "backend_unavailable"  # one failure: still closed
    second = snap(service, COLOR, 60, 40)  # the second opens the circuit: it is captured locally
    assert second.status_code == 200 and second.headers["X-Snapshot-Backend"] == "local"
    assert open_png(second.content).size == (60, 40)
    ready = requests.get(f"{service.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text  # the fallback serves: the replica stays ready
    checks = ready.json()["checks"]
    assert checks["grid_circuit"].startswith("open") and checks["grid"].startswith("degraded")
    metrics = requests.get(f"{service.url}/metrics", timeout=5).text
    assert 'snapshot_grid_circuit{state="open"} 1.0' in metrics
    assert "Grid circuit closed -> open" in service.proc.log_path.read_text()
    assert snap(service, COLOR, 60, 40).headers["X-Snapshot-Backend"] == "local"
    grid = start_grid(nodes=1, max_sessions=1, port=port)  # the Grid is back
    try:
        time.sleep(2.1)  # the cooldown: the next capture probes the Grid
        probe = snap(service, COLOR, 60, 40)
        assert probe.status_code == 200 and probe.headers["X-Snapshot-Backend"] == "grid"
        assert requests.get(f"{service.url}/readyz", timeout=10).json()["checks"]["grid_circuit"] == "closed"
        assert snap(service, COLOR, 60, 40).headers["X-Snapshot-Backend"] == "grid"
        log = service.proc.log_path.read_text()
        assert "Grid circuit open -> half_open" in log and "Grid circuit half_open -> closed" in log
    finally:
        service.stop()
        grid.stop()


def test_a_full_grid_and_a_grid_scaled_to_zero_nodes_keep_the_service_ready(snap, start, pages):
    """Both are normal under KEDA.  A replica that left the load balancer then would never send the
    session requests that make KEDA add nodes; captures that find no slot in time get 503 instead."""
    grid = start_grid(nodes=1, max_sessions=1)
    try:
        service = start(grid_env(grid, pool_size=1))
        wait_until(lambda: all(slot.get("session") for slot in grid.slots()), 20, "the warm session to fill the Grid")
        assert grid.status()["ready"] is False  # what the Grid itself says when every slot is busy
        time.sleep(3.5)  # past the readiness cache
        assert requests.get(f"{service.url}/readyz").status_code == 200
    finally:
        grid.stop()
    empty = start_grid(nodes=0)
    try:
        service = start(grid_env(empty, pool_size=1, session_timeout=3))  # waits for /readyz 200
        response = snap(service, COLOR, 60, 40)
        assert response.status_code == 503 and "Retry-After" in response.headers, response.text
        assert requests.get(f"{service.url}/readyz").status_code == 200
    finally:
        empty.stop()


def test_s3_outage_fails_posts_honestly_keeps_gets_working_and_recovers(snap, start, grid, pages):
    s3 = start_s3()
    try:
        service = start({**grid_env(grid, pool_size=1, s3_timeout=1), **s3.service_env()})
        form = {"url": pages.base + "/color/00ff00", "width": "30", "height": "20"}
        assert requests.post(f"{service.url}/create_snap", data=form).status_code == 200
        s3.stop()
        started = time.monotonic()
        response = requests.post(f"{service.url}/create_snap", data=form, timeout=60)
        assert response.status_code == 503, response.text
        assert response.json()["error"] in ("storage_error", "timeout") and "Retry-After" in response.headers
        assert time.monotonic() - started < 35
        assert snap(service, COLOR, 60, 40).status_code == 200  # GET does not need storage
        s3.restart()
        # no service restart: once SeaweedFS has settled (its volume server may lag its S3 API by a
        # moment), POSTs store again
        answers = []
        wait_until(
            lambda: (
                answers.append(requests.post(f"{service.url}/create_snap", data=form, timeout=60))
                or answers[-1].status_code == 200
            ),
            30,
            "POSTs to store again",
        )
        response = answers[-1]
        stored = requests.get(response.json()["file_url"])
        assert stored.status_code == 200 and open_png(stored.content).size == (30, 20)
    finally:
        s3.stop()


def test_a_client_that_hangs_up_frees_its_browser_at_once(snap, start, pages):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "1"})
    host, port = urlsplit(service.url).hostname, urlsplit(service.url).port
    pages.hits.clear()
    with socket.create_connection((host, port)) as client:
        target = f"{pages.base}/slow?s=10"
        client.sendall(f"GET /create_snap?url={target}&width=50&height=50 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        wait_until(lambda: "/slow" in pages.hits, 10, "the capture to start")
    # the only browser was busy with a 10 s page; cancelled, it serves the next capture right away
    started = time.monotonic()
    response = snap(service, COLOR, 60, 40)
    assert response.status_code == 200
    assert time.monotonic() - started < 5, "the abandoned capture still held the browser"
    metrics = requests.get(f"{service.url}/metrics").text
    assert 'snapshot_captures_total{backend="local",outcome="cancelled"} 1.0' in metrics


def _raw_session(grid, **caps):
    """A WebDriver session on ``grid`` that the service knows nothing of (with extra capabilities)."""
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.platform_name = "linux"
    for name, value in caps.items():
        options.set_capability(name, value)
    return webdriver.Remote(command_executor=grid.url, options=options)


def test_after_a_hub_restart_a_session_the_router_forgot_is_ended_on_its_node():
    """The restarted router no longer knows the session, but its node still runs it and holds the slot
    (until the node's session timeout): ``NodeLoss.sweep`` ends it there."""
    grid = start_grid(nodes=1, max_sessions=1)
    lost = _raw_session(grid)
    try:
        grid.restart_hub()
        wait_until(lambda: grid.sessions() == 1, 60, "the node to register again, its session still running")
        api = GridApi(grid.url)
        with pytest.raises(OSError):
            api.end_session(lost.session_id)  # through the router: unknown there
        assert grid.sessions() == 1
        assert NodeLoss(api, "").sweep(lost.session_id) == 0  # the node answers: not removed
        wait_until(lambda: grid.sessions() == 0, 20, "the slot to be freed")
        _raw_session(grid).quit()  # and taken again
    finally:
        with contextlib.suppress(Exception):
            lost.quit()
        grid.stop()


def test_orphaned_sessions_are_ended_and_other_clients_are_left_alone(snap, start, pages):
    """Both sweeps end to end: a session a crashed replica left, and one of this replica's own that its
    pool does not hold (a session whose creation answer was lost), are ended; another client's is not."""
    grid = start_grid(nodes=2, max_sessions=2)  # an own Grid: replicas of one deployment share settings

    def raw_session(**caps):
        return _raw_session(grid, **caps)

    def alive(session_id):
        return any(slot.get("session", {}) and slot["session"]["sessionId"] == session_id for slot in grid.slots())

    orphan = raw_session(**{"snapshot:instance": "crashed-replica"})  # what a crashed replica leaves
    other = raw_session()  # another Grid client
    own_orphan = None
    try:
        # short lives make both sweeps come soon; the deadlines leave room for a session opened on a busy
        # machine (2 s gave a 504 while another process used a core)
        service = start(grid_env(grid, pool_size=1, session_max_age=2, capture_timeout=8, session_timeout=5))
        assert snap(service, COLOR, 60, 40).status_code == 200  # a free slot: no excuse for a 504
        sessions = [s for s in GridApi(grid.url).sessions() if s.capabilities.get("snapshot:instance")]
        instance = next(s.capabilities["snapshot:instance"] for s in sessions if s.id != orphan.session_id)
        own_orphan = raw_session(**{"snapshot:instance": instance})
        wait_until(lambda: not alive(orphan.session_id), 45, "the crashed replica's session to be ended")
        wait_until(lambda: not alive(own_orphan.session_id), 60, "this replica's own orphan to be ended")
        assert alive(other.session_id)
        metrics = requests.get(f"{service.url}/metrics").text
        assert "snapshot_orphan_sessions_ended_total 2.0" in metrics
        assert snap(service, COLOR, 60, 40).status_code == 200  # its own pooled session was left alone
    finally:
        other.quit()
        for session in (orphan, own_orphan):
            try:
                if session is not None:
                    session.quit()
            except Exception:
                pass
        grid.stop()


def test_sigterm_under_load_loses_nothing(snap, start, grid, pages):
    service = start(grid_env(grid, pool_size=2, queue_size=8))
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(snap, service, "/slow?s=1", 60, 40) for _ in range(5)]
        time.sleep(0.7)
        service.proc.popen.send_signal(signal.SIGTERM)
        statuses = [f.result().status_code for f in futures]
    assert statuses == [200] * 5
    assert service.proc.popen.wait(30) == 0
