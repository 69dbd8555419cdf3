"""Every connection the browser makes is checked: a canary on 127.0.0.2 must never be reached.

Attacker pages on 127.0.0.1 (an allowed network here) try every route a page has to another address:
redirects, meta refresh, frames, subresources, fetch/XHR/beacon, WebSockets, script navigation, popups,
form posts, numeric address spellings and WebRTC (UDP).  A control run that allows the canary's
network proves each attack really fires.
"""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from service.egress import _Refused, parse_target
from tests.servers import PageServer, free_port
from tests.support import open_png

pytestmark = pytest.mark.integration

ATTACKS = {
    "redirect": lambda c: ("", {"Location": f"{c.base}/redirect"}, 302),
    "meta-refresh": lambda c: f'<meta http-equiv="refresh" content="0;url={c.base}/meta">',
    "iframe": lambda c: f'<iframe src="{c.base}/iframe"></iframe>',
    "subresources": lambda c: (
        f'<img src="{c.base}/img"><link rel="stylesheet" href="{c.base}/css">'
        f'<script src="{c.base}/script"></script>'
        f'<div style="background:url({c.base}/bg)">x</div>'
    ),
    "fetch": lambda c: (
        f'<script>fetch("{c.base}/fetch", {{mode: "no-cors"}}).catch(() => 0);'
        f'const x = new XMLHttpRequest(); x.open("GET", "{c.base}/xhr"); x.send();'
        f'navigator.sendBeacon("{c.base}/beacon", "x");</script>'
    ),
    "websocket": lambda c: f'<script>try {{ new WebSocket("ws://127.0.0.2:{c.port}/ws") }} catch (e) {{}}</script>',
    "script-navigation": lambda c: f'<script>location.href = "{c.base}/navigate";</script>',
    "popup": lambda c: f'<script>window.open("{c.base}/popup")</script>',
    "form": lambda c: (
        f'<form id=f method=post action="{c.base}/form"><input name=a value=1></form>'
        f'<script>document.getElementById("f").submit()</script>'
    ),
    "numeric-host": lambda c: f'<img src="http://2130706434:{c.port}/numeric">',  # = 127.0.0.2
}


class UdpCanary:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.2", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recv(2048)
                self.packets += 1
            except OSError:
                continue

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def canary():
    server = PageServer(host="127.0.0.2")
    server.port = server.server_address[1]
    udp = UdpCanary()
    server.udp = udp
    yield server
    udp.stop()
    server.stop()


@pytest.fixture
def attack_pages(pages, canary):
    slow = f'<iframe src="{pages.base}/slow?s=1" style="display:none"></iframe>'  # time for async attempts
    for name, make in ATTACKS.items():

        def route(query, make=make):
            answer = make(canary)
            if isinstance(answer, tuple):
                return answer
            return f"<!doctype html><html><body style='background:#0a0'>{answer}{slow}</body></html>"

        pages.routes[f"/attack/{name}"] = route
    pages.routes["/attack/webrtc"] = lambda q: (
        "<!doctype html><html><body><script>"
        f"const pc = new RTCPeerConnection({{iceServers: [{{urls: 'stun:127.0.0.2:{canary.udp.port}'}}]}});"
        "pc.createDataChannel('x'); pc.createOffer().then(o => pc.setLocalDescription(o));"
        f"</script>{slow}</body></html>"
    )
    yield pages
    for name in [*ATTACKS, "webrtc"]:
        pages.routes.pop(f"/attack/{name}")


def run_attacks(service, pages):
    statuses = {}
    for name in [*ATTACKS, "webrtc"]:
        response = requests.get(
            f"{service.url}/create_snap",
            timeout=60,
            params={"url": f"{pages.base}/attack/{name}", "width": 200, "height": 150},
        )
        statuses[name] = response.status_code
    return statuses


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_no_route_out_of_a_page_reaches_a_blocked_address(start, grid, attack_pages, canary, backend):
    """The Grid's browsers are started with the proxy too (dropping it from them alone must fail here)."""
    env = {"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_POOL_SIZE": "1"}
    if backend == "grid":
        env |= {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"}
    service = start(env)
    canary.hits.clear()
    statuses = run_attacks(service, attack_pages)
    assert all(status in (200, 502) for status in statuses.values()), statuses
    assert canary.hits == [], f"the canary was reached: {canary.hits}"
    assert canary.udp.packets == 0, "WebRTC sent UDP around the proxy"
    metrics = requests.get(f"{service.url}/metrics").text
    series = 'snapshot_egress_connections_total{verdict="blocked"}'
    blocked = next(line for line in metrics.splitlines() if line.startswith(series))
    assert float(blocked.split()[-1]) >= len(ATTACKS) - 1
    # allowed pages are still captured, through the proxy
    ok = requests.get(
        f"{service.url}/create_snap", params={"url": f"{attack_pages.base}/color/0000ff", "width": 20, "height": 10}
    )
    assert ok.status_code == 200 and open_png(ok.content).getpixel((10, 5)) == (0, 0, 255)


def test_control_the_attacks_do_reach_an_allowed_canary(start, attack_pages, canary):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8", "SNAPSHOT_LOCAL_POOL_SIZE": "1"})
    canary.hits.clear()
    run_attacks(service, attack_pages)
    reached = set(canary.hits)
    expected = {"/redirect", "/meta", "/iframe", "/img", "/fetch", "/xhr", "/navigate", "/form", "/numeric"}
    assert expected <= reached, f"attacks that never fired: {sorted(expected - reached)}"


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("CONNECT", "example.com:443", ("example.com", 443, None)),
        ("CONNECT", "[::1]:8443", ("::1", 8443, None)),
        ("GET", "http://Example.COM./a?b=1", ("example.com", 80, "/a?b=1")),
        ("GET", "http://2130706433:81/", ("127.0.0.1", 81, "/")),
    ],
)
def test_proxy_request_targets_are_canonicalised(method, target, expected):
    assert parse_target(method, target) == expected


@pytest.mark.parametrize(
    ("method", "target"),
    [("CONNECT", "example.com"), ("GET", "/relative"), ("GET", "ftp://example.com/"), ("CONNECT", "example.com:0")],
)
def test_bad_proxy_requests_are_refused(method, target):
    with pytest.raises(_Refused):
        parse_target(method, target)


def test_the_proxy_port_is_not_an_open_door(start, pages):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_PROXY_PORT": str(free_port())})
    port = int(service.env["SNAPSHOT_PROXY_PORT"])
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"CONNECT 169.254.169.254:80 HTTP/1.1\r\nHost: 169.254.169.254:80\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 403")


def test_a_redirect_to_a_blocked_address_is_an_error_not_a_picture(start, pages, canary):
    pages.routes["/attack/redirect-only"] = lambda q: ("", {"Location": f"{canary.base}/redirect"}, 302)
    try:
        service = start({"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_LOCAL_POOL_SIZE": "1"})
        canary.hits.clear()
        response = requests.get(
            f"{service.url}/create_snap",
            timeout=60,
            params={"url": f"{pages.base}/attack/redirect-only", "width": 50, "height": 50},
        )
        assert response.status_code == 502 and response.json()["error"] == "unreachable"
        assert canary.hits == []
    finally:
        pages.routes.pop("/attack/redirect-only")


def option_attacks(canary) -> list[dict[str, str]]:
    """Capture options whose values lead the page to the canary."""
    return [
        {"styles": f"@import url({canary.base}/style-import); body {{ background: url({canary.base}/style-bg) }}"},
        {"scripts": f"await fetch('{canary.base}/script-fetch', {{mode: 'no-cors'}}).catch(() => 0)"},
        {"click": "a"},
        {"wait_until": "networkidle0", "scripts": f"new Image().src = '{canary.base}/script-image'"},
    ]


@pytest.mark.parametrize("allowed", [False, True], ids=["blocked", "control"])
def test_urls_in_capture_options_go_through_the_egress_policy_too(start, pages, canary, allowed):
    pages.routes["/attack/link"] = lambda q: (
        f"<!doctype html><a href='{canary.base}/clicked' style='display:block;width:90px;height:40px'>x</a>"
    )
    networks = "127.0.0.0/8" if allowed else "127.0.0.1/32"
    service = start(
        {"SNAPSHOT_ALLOW_NETWORKS": networks, "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_ALLOW_SCRIPTS": "true"}
    )
    canary.hits.clear()
    try:
        for options in option_attacks(canary):
            params = {"url": f"{pages.base}/attack/link", "width": 200, "height": 150, **options}
            response = requests.get(f"{service.url}/create_snap", params=params, timeout=60)
            assert response.status_code in (200, 502), response.text
    finally:
        pages.routes.pop("/attack/link")
    wanted = {"/style-import", "/style-bg", "/script-fetch", "/clicked", "/script-image"}
    if allowed:  # the control: each option does reach its URL when the policy allows it
        assert wanted <= set(canary.hits), canary.hits
    else:
        assert canary.hits == [], f"the canary was reached: {canary.hits}"
