"""SNAPSHOT_UPSTREAM_PROXY: the filtering proxy decides, then reaches what it allowed through the cluster's
own proxy (Debian's tinyproxy here, with basic auth, logging every request line it gets).

- plain HTTP goes in absolute form, TLS and websockets through CONNECT; a name that resolves in the
  cluster goes as the address that was checked (pinned: the upstream cannot resolve it elsewhere);
- what the policy refuses never reaches the upstream;
- SNAPSHOT_UPSTREAM_NO_PROXY is reached directly;
- a name the cluster cannot resolve is refused, or forwarded by name with SNAPSHOT_UPSTREAM_UNRESOLVED=forward.
"""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from tests.servers import PageServer, free_port, start_tinyproxy

pytestmark = pytest.mark.integration

PAGE = "<!doctype html><html><body style='margin:0;background:#00ff00'><img src='{canary}/canary'></body></html>"


@pytest.fixture
def upstream():
    proxy = start_tinyproxy()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def canary():
    server = PageServer(host="127.0.0.2")
    yield server
    server.stop()


def _env(upstream, **extra: str) -> dict[str, str]:
    return {"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_UPSTREAM_PROXY": upstream.url,
            "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_POOL_SIZE": "1", **extra}  # fmt: skip


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_captures_reach_the_page_through_the_upstream_and_refused_targets_never_reach_it(
    start, grid, pages, canary, upstream, backend
):
    pages.routes["/behind-upstream"] = lambda q: PAGE.format(canary=canary.base)
    env = _env(upstream) | (
        {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"} if backend == "grid" else {}
    )
    service = start(env)
    port = pages.server_address[1]
    # by name: localhost resolves here, so the upstream gets the address that was checked
    query = {"url": f"http://localhost:{port}/behind-upstream", "width": 100, "height": 100}
    response = requests.get(f"{service.url}/create_snap", params=query, timeout=60)
    assert response.status_code == 200, response.text
    lines = upstream.requests()
    assert f"GET http://127.0.0.1:{port}/behind-upstream HTTP/1.1" in lines, lines
    assert not any("localhost" in line or "127.0.0.2" in line for line in lines), lines
    assert canary.hits == []  # refused by the policy (127.0.0.2 is not allowed): never asked of the upstream


def _connect_through(proxy_port: int, target: str) -> tuple[bytes, socket.socket]:
    sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return head, sock


def test_tunnels_go_through_the_upstreams_connect_and_no_proxy_hosts_go_direct(start, upstream):
    echo = socket.socket()
    echo.bind(("127.0.0.1", 0))
    echo.listen()
    echo_port = echo.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = echo.accept()
            except OSError:
                return
            with conn:
                conn.sendall(conn.recv(1024).upper())

    threading.Thread(target=serve, daemon=True).start()
    try:
        proxy_port = free_port()
        service = start(_env(upstream, SNAPSHOT_PROXY_PORT=str(proxy_port)))
        head, sock = _connect_through(proxy_port, f"127.0.0.1:{echo_port}")
        with sock:
            assert head.startswith(b"HTTP/1.1 200"), head
            sock.sendall(b"hello")
            assert sock.recv(1024) == b"HELLO"
        assert f"CONNECT 127.0.0.1:{echo_port} HTTP/1.1" in upstream.requests()
        refused, sock = _connect_through(proxy_port, f"127.0.0.2:{echo_port}")
        sock.close()
        assert refused.startswith(b"HTTP/1.1 403"), refused
        assert not any("127.0.0.2" in line for line in upstream.requests())
        service.stop()

        direct = start(_env(upstream, SNAPSHOT_PROXY_PORT=str(proxy_port), SNAPSHOT_UPSTREAM_NO_PROXY="127.0.0.0/8"))
        before = len(upstream.requests())
        head, sock = _connect_through(proxy_port, f"127.0.0.1:{echo_port}")
        with sock:
            assert head.startswith(b"HTTP/1.1 200"), head
            sock.sendall(b"direct")
            assert sock.recv(1024) == b"DIRECT"
        assert len(upstream.requests()) == before
        direct.stop()
    finally:
        echo.close()


@pytest.mark.parametrize("unresolved", ["refuse", "forward"])
def test_names_the_cluster_cannot_resolve_are_refused_or_forwarded_by_name(start, upstream, unresolved):
    proxy_port = free_port()
    service = start(_env(upstream, SNAPSHOT_PROXY_PORT=str(proxy_port), SNAPSHOT_UPSTREAM_UNRESOLVED=unresolved))
    head, sock = _connect_through(proxy_port, "nowhere.invalid:443")
    sock.close()
    forwarded = "CONNECT nowhere.invalid:443 HTTP/1.1" in upstream.requests()
    api = requests.get(f"{service.url}/create_snap", params={"url": "http://nowhere.invalid/", "width": 50,
                                                             "height": 50}, timeout=60)  # fmt: skip
    if unresolved == "refuse":
        assert head.startswith(b"HTTP/1.1 502") and not forwarded, head
        assert api.status_code == 403 and api.json()["error"] == "blocked", api.text
    else:
        # the upstream (tinyproxy cannot resolve it either) was asked by name: it answers, not the policy;
        # its error page is what the browser got for the document (a 5xx status, as with any proxy)
        assert forwarded, upstream.requests()
        assert api.status_code == 200, api.text
        assert api.headers["X-Snapshot-Http-Status"].startswith("5")
