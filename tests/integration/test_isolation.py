"""Nothing one capture leaves in the browser is visible to the next one on the same session."""

from __future__ import annotations

import pytest

from tests.servers import wait_until
from tests.support import LOOPBACK, open_png

pytestmark = pytest.mark.integration


def is_green(pixel):
    return pixel[1] > 120 and pixel[0] < 60


def is_red(pixel):
    return pixel[0] > 100 and pixel[1] < 60


WRITER = """<!doctype html><html><body style="margin:0;background:#888">
<script>
  document.cookie = "js_cookie=1; max-age=3600; path=/";
  localStorage.setItem("k", "v");
  sessionStorage.setItem("k", "v");
  indexedDB.open("leak-db", 1).onupgradeneeded = e => e.target.result.createObjectStore("s");
  caches.open("leak-cache").then(c => c.put("/leak", new Response("x")));
  window.open("/state/write?popup=1", "_blank");
  navigator.permissions && 0;
  {then}
</script>
<iframe src="/slow?s=0.5" style="display:none"></iframe>
</body></html>"""

READER = """<!doctype html><html><body style="margin:0">
<div id="out" style="position:fixed;inset:0;background:rgb({initial})"></div>
<script>
  const found = [];
  if ({server_cookie}) found.push("server-cookie");
  if (document.cookie) found.push("cookie:" + document.cookie);
  if (localStorage.length) found.push("localStorage");
  if (sessionStorage.length) found.push("sessionStorage");
  const paint = () => {
    document.getElementById("out").style.background = found.length ? "rgb(200,0,0)" : "rgb(0,170,0)";
    document.title = found.join(",");
  };
  paint();
  Promise.all([
    indexedDB.databases().then(dbs => dbs.length && found.push("indexedDB")),
    caches.keys().then(keys => keys.length && found.push("cacheStorage")),
  ]).then(paint);
</script>
<iframe src="/slow?s=0.5" style="display:none"></iframe>
</body></html>"""


@pytest.fixture
def state_pages(pages):
    def writer(query):
        then = 'location.href = "/state/read";' if query.get("then") == "read" else ""
        html = WRITER.replace("{then}", then)
        return html, {"Set-Cookie": "server_cookie=1; Max-Age=3600; Path=/; HttpOnly"}

    def reader(query):
        return READER.replace("{server_cookie}", "true" if query["_cookie"] else "false").replace(
            "{initial}", "128,128,128"
        )

    pages.routes["/state/write"] = writer
    pages.routes["/state/read"] = reader
    yield pages
    pages.routes.pop("/state/write")
    pages.routes.pop("/state/read")


def centre(response):
    """The centre pixel of a successful 200x100 capture."""
    assert response.status_code == 200, response.text
    return open_png(response.content).getpixel((100, 50))


@pytest.fixture(params=["local-reset", "local-context", "grid-reset"])
def one_session_service(request, start, grid):
    backend, isolation = request.param.split("-")
    env = {
        "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
        "SNAPSHOT_ISOLATION": isolation,
        "SNAPSHOT_POOL_SIZE": "1",
        "SNAPSHOT_LOCAL_POOL_SIZE": "1",
    }
    if backend == "grid":
        env["SNAPSHOT_GRID_URL"] = grid.url
    return start(env)


def test_the_reader_page_sees_state_when_it_is_there(snap, one_session_service, state_pages):
    # control: written and read within one capture, the state is visible, so the reader can detect it
    assert is_red(centre(snap(one_session_service, "/state/write?then=read", 200, 100)))


def test_state_from_one_capture_is_invisible_to_the_next(snap, one_session_service, state_pages):
    for _ in range(2):  # twice: the reset leaves the session clean for more than one capture
        assert not is_green(centre(snap(one_session_service, "/state/write", 200, 100)))
        assert is_green(centre(snap(one_session_service, "/state/read", 200, 100)))


def test_storage_of_an_origin_the_page_left_is_cleared_too(snap, one_session_service, state_pages):
    """The writer stores at its origin and leaves for another one before the picture: the reset clears
    every origin the capture had, not only the one it ended on."""
    elsewhere = state_pages.base.replace("127.0.0.1", "localhost")
    state_pages.routes["/state/leave"] = lambda q: WRITER.replace(
        "{then}", f'location.href = "{elsewhere}/color/00ff00";'
    )
    try:
        for _ in range(2):
            snap(one_session_service, "/state/leave", 200, 100)
            assert is_green(centre(snap(one_session_service, "/state/read", 200, 100)))
    finally:
        state_pages.routes.pop("/state/leave")


def test_credentials_a_page_navigates_with_never_reach_the_next_capture(snap, one_session_service, state_pages):
    """A URL with credentials fills the browser's HTTP auth cache, which no reset can empty: the next capture
    of that site must not be sent them (the session is replaced)."""
    host = state_pages.base.replace("http://127.0.0.1", "localhost")

    def protected(query):
        if query["_authorization"]:
            return "<!doctype html><body style='margin:0;background:rgb(200,0,0)'>in</body>", {}
        return "<!doctype html><body style='margin:0;background:rgb(0,170,0)'>out</body>", {
            "WWW-Authenticate": 'Basic realm="r"'}, 401  # fmt: skip

    state_pages.routes["/state/protected"] = protected
    state_pages.routes["/state/login"] = lambda q: (
        f"<script>location.href = 'http://u:p@{host}/state/protected'</script>"
    )
    try:
        login = snap(one_session_service, "/state/login", 200, 100, url=f"http://{host}/state/login")
        assert is_red(centre(login))  # control: logged in
        state_pages.seen.clear()
        snap(one_session_service, "/state/protected", 200, 100, url=f"http://{host}/state/protected")
        sent = [headers.get("authorization") for path, headers in state_pages.seen if path == "/state/protected"]
        assert sent and not any(sent), sent
    finally:
        state_pages.routes.pop("/state/protected")
        state_pages.routes.pop("/state/login")


UNLOAD_WRITER = """<!doctype html><html><body><script>
  addEventListener("pagehide", () => {
    document.cookie = "unload_cookie=1; max-age=3600; path=/";
    localStorage.setItem("unload", "1");
    sessionStorage.setItem("unload", "1");
  });
  {then}
</script></body></html>"""


def test_state_written_while_the_page_unloads_is_invisible_to_the_next(snap, one_session_service, state_pages):
    """The reset unloads the page first and clears after: what its pagehide handler writes is gone too."""
    state_pages.routes["/state/unload-write"] = lambda q: UNLOAD_WRITER.replace(
        "{then}", 'location.href = "/state/read";' if q.get("then") == "read" else ""
    )
    try:
        # control: the page the writer leaves for sees what the writer's pagehide wrote
        assert is_red(centre(snap(one_session_service, "/state/unload-write?then=read", 200, 100)))
        for _ in range(3):
            assert not is_red(centre(snap(one_session_service, "/state/unload-write", 200, 100)))
            assert is_green(centre(snap(one_session_service, "/state/read", 200, 100)))
    finally:
        state_pages.routes.pop("/state/unload-write")


def test_a_captured_page_is_unloaded_not_kept_in_the_back_forward_cache(snap, start, pages):
    """After its capture a page must be gone, not frozen in the back/forward cache where it would
    keep its memory, sockets and state (pagehide's ``persisted`` says which)."""
    pages.routes["/state/pagehide"] = lambda q: (
        "<!doctype html><html><body><script>addEventListener('pagehide', e => "
        "navigator.sendBeacon('/state/gone-' + (e.persisted ? 'cached' : 'unloaded'), 'x'))</script></body></html>"
    )
    try:
        service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "1"})
        pages.hits.clear()
        centre(snap(service, "/state/pagehide", 200, 100))
        wait_until(lambda: any(hit.startswith("/state/gone-") for hit in pages.hits), 10, "the page's pagehide")
        assert [hit for hit in pages.hits if hit.startswith("/state/gone-")] == ["/state/gone-unloaded"]
    finally:
        pages.routes.pop("/state/pagehide")


def test_the_http_cache_is_not_shared_between_captures(snap, one_session_service, state_pages):
    state_pages.routes["/state/cached.js"] = lambda q: (
        "window.cached = 1;",
        {"Content-Type": "text/javascript", "Cache-Control": "public, max-age=3600"},
    )
    state_pages.routes["/state/cache-user"] = lambda q: (
        "<!doctype html><html><body>"
        + '<script src="/state/cached.js"></script>' * int(q.get("times", 1))
        + "</body></html>"
    )
    try:
        state_pages.hits.clear()
        centre(snap(one_session_service, "/state/cache-user?times=2", 200, 100))
        assert state_pages.hits.count("/state/cached.js") == 1  # control: the script is served from cache
        centre(snap(one_session_service, "/state/cache-user", 200, 100))
        assert state_pages.hits.count("/state/cached.js") == 2, "the next capture got the script from the cache"
    finally:
        state_pages.routes.pop("/state/cached.js")
        state_pages.routes.pop("/state/cache-user")
