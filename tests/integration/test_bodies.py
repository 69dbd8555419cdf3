"""HTML and Markdown bodies, ``/create_content``, what the page said and evidence of failures, in real
browsers (local Chromium and the Grid's).

A body is served from the service's own origin and everything it loads goes through the filtering proxy:
a canary on 127.0.0.2 (refused) must never be reached from a body, while a control run that allows it
proves each attack fires.  ``file://`` reads nothing.
"""

from __future__ import annotations

import io
import time

import pytest
import requests
from PIL import Image

from service.images import pdf_pages
from tests.servers import PageServer
from tests.support import LOOPBACK, open_png

pytestmark = pytest.mark.integration

SVG = (
    "<svg xmlns='http://www.w3.org/2000/svg' width='40' height='40'><rect width='40' height='40' fill='#00ff00'/></svg>"
)


def green_svg(query: dict[str, str]) -> tuple[str, dict[str, str]]:
    return SVG, {"Content-Type": "image/svg+xml"}


@pytest.fixture(scope="module")
def canary():
    server = PageServer(host="127.0.0.2")
    yield server
    server.stop()


@pytest.fixture
def svg_pages(pages):
    pages.routes["/green.svg"] = green_svg
    pages.routes["/to-canary"] = lambda q: ("", {"Location": q.get("to", "/")}, 302)
    yield pages
    pages.routes.pop("/green.svg")
    pages.routes.pop("/to-canary")


def job_record(service, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = requests.get(f"{service.url}/jobs/{job_id}", timeout=10).json()
        if record["status"] in ("succeeded", "failed"):
            return record
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def post(service, path: str = "/create_snap", **fields) -> requests.Response:
    return requests.post(f"{service.url}{path}", json=fields, timeout=60)


def body_attacks(canary: PageServer, pages: PageServer) -> dict[str, str]:
    """Bodies whose every route out leads to the canary."""
    c = canary.base
    port = canary.server_address[1]
    return {
        "subresources": f'<img src="{c}/img"><link rel="stylesheet" href="{c}/css"><script src="{c}/script"></script>'
        f'<div style="background:url({c}/bg)">x</div><video src="{c}/video"></video>',
        "iframe": f'<iframe src="{c}/iframe"></iframe>',
        "fetch": f'<script>fetch("{c}/fetch", {{mode: "no-cors"}}).catch(() => 0);'
        f'const x = new XMLHttpRequest(); x.open("GET", "{c}/xhr"); x.send();'
        f'navigator.sendBeacon("{c}/beacon", "x");</script>',
        "redirect": f'<img src="{pages.base}/to-canary?to={c}/redirected">',
        "meta-refresh": f'<meta http-equiv="refresh" content="0;url={c}/meta">',
        "navigation": f'<script>location.href = "{c}/navigate";</script>',
        "websocket": f'<script>try {{ new WebSocket("ws://127.0.0.2:{port}/ws") }} catch (e) {{}}</script>',
        "form": f'<form id=f method=post action="{c}/form"><input name=a value=1></form>'
        '<script>document.getElementById("f").submit()</script>',
        "numeric-host": f'<img src="http://2130706434:{port}/numeric">',
        "base": f'<base href="{c}/"><img src="relative">',
    }


def capture_bodies(service, attacks: dict[str, str]) -> dict[str, int]:
    statuses = {}
    for name, html in attacks.items():
        # the wait for networkidle gives async attempts their time
        statuses[name] = post(service, html=html, width=200, height=150, wait_until="networkidle0").status_code
    return statuses


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_nothing_an_html_body_loads_reaches_a_refused_address(start, grid, svg_pages, canary, backend):
    env = {"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_POOL_SIZE": "1"}
    if backend == "grid":
        env |= {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"}
    service = start(env)
    canary.hits.clear()
    statuses = capture_bodies(service, body_attacks(canary, svg_pages))
    assert all(status in (200, 502) for status in statuses.values()), statuses
    assert canary.hits == [], f"the canary was reached from a body: {canary.hits}"
    # a base_url that the policy refuses is refused before any browser sees the body
    refused = post(service, html="<p>x", base_url=f"{canary.base}/", width=100, height=100)
    assert refused.status_code == 403 and refused.json()["error"] == "blocked"
    # the body itself, and what it loads from an allowed address, still work
    ok = post(service, html=f'<body style="margin:0"><img src="{svg_pages.base}/green.svg">', width=60, height=60,
              response_type="json", metadata=True)  # fmt: skip
    assert ok.status_code == 200, ok.text
    image = requests.get(ok.json()["file_url"], timeout=10)
    assert open_png(image.content).getpixel((20, 20)) == (0, 255, 0)


def test_control_the_body_attacks_do_reach_an_allowed_canary(start, svg_pages, canary):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "1"})
    canary.hits.clear()
    capture_bodies(service, body_attacks(canary, svg_pages))
    reached = set(canary.hits)
    for path in ("/img", "/css", "/script", "/bg", "/iframe", "/fetch", "/redirected", "/meta", "/navigate",
                 "/numeric", "/relative"):  # fmt: skip
        assert path in reached, f"{path} never fired: {sorted(reached)}"


def test_file_urls_in_a_body_read_nothing(local_service):
    html = """<!doctype html><body><pre id=out>start</pre><iframe id=f src="file:///etc/passwd"></iframe>
<img src="file:///etc/passwd"><script>
const out = document.getElementById('out');
const say = (text) => { out.textContent += '\\n' + text; };
fetch('file:///etc/passwd').then(r => r.text()).then(t => say('fetch read ' + t), e => say('fetch refused'));
try {
  const x = new XMLHttpRequest(); x.open('GET', 'file:///etc/passwd', false); x.send();
  say('xhr read ' + x.responseText);
} catch (e) { say('xhr refused'); }
window.onload = () => {
  try { say('frame read ' + document.getElementById('f').contentDocument.body.textContent); }
  catch (e) { say('frame refused'); }
};
</script>"""
    response = post(local_service, "/create_content", html=html, format="text", wait_until="networkidle0", delay=200)
    assert response.status_code == 200, response.text
    text = response.json()["content"]
    assert "root:" not in text, text  # /etc/passwd's first line, read by no route
    assert "fetch refused" in text and "xhr refused" in text and "frame" in text, text


def test_an_html_body_with_a_base_url_its_styles_and_images_is_captured_exactly(local_service, svg_pages):
    html = (
        "<!doctype html><html><head><style>body { margin: 0; background: #0000ff }</style></head>"
        '<body><img src="/green.svg" style="display:block"></body></html>'
    )
    got = requests.get(
        f"{local_service.url}/create_snap",
        params={"html": html, "base_url": svg_pages.base + "/", "width": 100, "height": 80},
        timeout=60,
    )
    assert got.status_code == 200, got.text
    image = open_png(got.content)
    assert image.size == (100, 80)
    assert image.getpixel((20, 20)) == (0, 255, 0)  # the relative image, from the base_url's origin
    assert image.getpixel((80, 60)) == (0, 0, 255)  # the body's own style
    assert got.headers["X-Snapshot-Final-Url"] == "http://content.snapshot.invalid/"
    # without the base, the relative image has nowhere to come from
    bare = requests.get(
        f"{local_service.url}/create_snap", params={"html": html, "width": 100, "height": 80}, timeout=60
    )
    assert open_png(bare.content).getpixel((20, 20)) == (0, 0, 255)


def test_a_markdown_body_is_rendered_and_its_raw_html_runs_nothing(local_service):
    markdown = (
        "# Quarterly report\n\nSome **bold** text.\n\n"
        "<script>document.title = 'ran'; document.body.style.background = '#ff0000'</script>\n\n"
        "<img src=x onerror=\"document.body.style.background='#ff0000'\">\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    shot = post(local_service, markdown=markdown, width=400, height=300, response_type="json", metadata=True)
    assert shot.status_code == 200, shot.text
    assert shot.json()["page_title"] == "Quarterly report"
    image = open_png(requests.get(shot.json()["file_url"], timeout=10).content)
    assert image.getpixel((390, 290))[:3] != (255, 0, 0)
    content = post(local_service, "/create_content", markdown=markdown, format="text")
    assert content.status_code == 200
    assert "Quarterly report" in content.text and "<script>" in content.text  # shown, as text


def test_every_option_works_with_a_body_full_page_pdf_and_selector(local_service):
    tall = '<body style="margin:0"><div id=box style="height:3000px;background:#00f"></div></body>'
    query = {"html": tall, "width": 200, "height": 100, "full_page": "true"}
    full = requests.get(f"{local_service.url}/create_snap", params=query, timeout=60)
    assert full.status_code == 200 and open_png(full.content).size == (200, 3000)
    pdf = post(local_service, "/create_pdf", html="<h1>Invoice 42</h1>", response_type="image")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf_pages(pdf.content) == 1
    query = {"markdown": "# Hi", "width": 300, "height": 200, "selector": "h1"}
    element = requests.get(f"{local_service.url}/create_snap", params=query, timeout=60)
    assert element.status_code == 200 and open_png(element.content).size[1] < 100


CONTENT_PAGE = """<!doctype html><html><head><title>Content</title><style>.gone { display: none }</style>
<script>document.addEventListener('DOMContentLoaded', () => {
  const p = document.createElement('p'); p.textContent = 'added by script'; document.body.append(p); });</script>
</head><body><h1>Heading</h1><p>A <a href="/next">link</a> and <b>bold</b>.</p>
<p class=gone>hidden text</p></body></html>"""


def test_the_content_of_a_real_page_as_html_text_and_markdown(local_service, pages):
    pages.routes["/content"] = lambda q: CONTENT_PAGE
    url = pages.base + "/content"
    html = requests.get(f"{local_service.url}/create_content", params={"url": url}, timeout=60)
    assert html.status_code == 200 and html.headers["Content-Type"] == "text/html; charset=utf-8"
    assert html.text.startswith("<!DOCTYPE html>") and "<p>added by script</p>" in html.text  # the rendered DOM
    assert "sandbox" in html.headers["Content-Security-Policy"]
    text = requests.get(f"{local_service.url}/create_content", params={"url": url, "format": "text"}, timeout=60)
    assert "added by script" in text.text and "Heading" in text.text and "hidden text" not in text.text
    markdown = post(local_service, "/create_content", url=url, format="markdown", response_type="json", metadata=True)
    answer = markdown.json()
    assert "# Heading" in answer["content"] and "[link](/next)" in answer["content"] and "**bold**" in answer["content"]
    assert "addEventListener" not in answer["content"] and answer["format"] == "markdown"
    stored = requests.get(answer["file_url"], timeout=10)
    assert stored.text == answer["content"] and stored.headers["Content-Type"].startswith("text/markdown")


SAYING_PAGE = """<!doctype html><body><script>
console.log('hello', 42); console.warn('careful'); console.error('bad thing');
fetch('/missing').catch(() => 0);
fetch('http://127.0.0.2:9/refused').catch(() => 0);
setTimeout(() => { throw new Error('late boom'); }, 0);
</script><img src="/also-missing.png"></body>"""


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_what_the_page_said_is_in_the_metadata_and_the_job(start, grid, pages, backend):
    pages.routes["/saying"] = lambda q: SAYING_PAGE
    env = {"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_POOL_SIZE": "1"}
    if backend == "grid":
        env |= {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"}
    service = start(env)
    fields = {
        "url": pages.base + "/saying",
        "width": 200,
        "height": 100,
        "metadata": True,
        "wait_until": "networkidle0",
    }
    answer = post(service, **fields)
    assert answer.status_code == 200, answer.text
    said = answer.json()
    assert {"level": "log", "text": "hello 42"} in said["console"]
    assert {"level": "warning", "text": "careful"} in said["console"]
    assert {"level": "error", "text": "bad thing"} in said["console"]
    assert any(entry["text"] == "Uncaught Error: late boom" for entry in said["console"]), said["console"]
    failed = {entry["url"]: entry for entry in said["failed_requests"]}
    assert failed[pages.base + "/missing"]["status"] == 404
    assert failed[pages.base + "/also-missing.png"]["status"] == 404
    assert failed["http://127.0.0.2:9/refused"]["error"].startswith("net::ERR_")  # refused by the proxy
    job = post(service, **fields, **{"async": True})
    record = job_record(service, job.json()["id"])
    assert record["status"] == "succeeded"
    assert {"level": "log", "text": "hello 42"} in record["result"]["console"]
    # without metadata the page is not listened to
    plain = post(service, **{**fields, "metadata": False})
    assert "console" not in plain.json()


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"wait_for_selector": "#never", "timeout": 5000}, 504, "timeout"),
        ({"selector": "#never"}, 422, "selector_not_found"),
        ({"fail_on_http_error": True, "url_path": "/gone"}, 424, "target_http_error"),
    ],
)
def test_a_failed_capture_gives_evidence_of_the_page_as_it_was(local_service, pages, extra, status, code):
    pages.routes["/gone"] = lambda q: ('<body style="background:#ff8000">gone</body>', {}, 404)
    path = extra.pop("url_path", "/color/ff8000")
    fields = {"url": pages.base + path, "width": 120, "height": 90, "evidence": True, **extra}
    failed = post(local_service, **fields)
    assert failed.status_code == status, failed.text
    body = failed.json()
    assert body["error"] == code and body["evidence_url"]
    evidence = open_png(requests.get(body["evidence_url"], timeout=10).content)
    assert evidence.size == (120, 90) and evidence.getpixel((100, 80)) == (255, 128, 0)
    assert "evidence_url" not in post(local_service, **{**fields, "evidence": False}).json()


def test_evidence_of_a_failed_job_on_the_grid(grid_service, pages):
    fields = {"url": pages.base + "/color/ff8000", "width": 120, "height": 90, "evidence": True,
              "selector": "#never", "async": True}  # fmt: skip
    job = post(grid_service, **fields)
    record = job_record(grid_service, job.json()["id"])
    assert record["status"] == "failed" and record["error"]["error"] == "selector_not_found"
    evidence = requests.get(record["error"]["evidence_url"], timeout=10)
    assert evidence.status_code == 200
    assert Image.open(io.BytesIO(evidence.content)).convert("RGB").getpixel((60, 45)) == (255, 128, 0)


def test_bodies_on_the_grid(grid_service, svg_pages):
    html = f'<body style="margin:0;background:#0000ff"><img src="{svg_pages.base}/green.svg"></body>'
    shot = requests.get(f"{grid_service.url}/create_snap", params={"html": html, "width": 80, "height": 60}, timeout=60)
    assert shot.status_code == 200, shot.text
    assert shot.headers["X-Snapshot-Backend"] == "grid"
    image = open_png(shot.content)
    assert image.getpixel((20, 20)) == (0, 255, 0) and image.getpixel((70, 50)) == (0, 0, 255)
    content = post(grid_service, "/create_content", markdown="# On the Grid", format="markdown", response_type="json")
    assert content.status_code == 200 and content.json()["content"].startswith("# On the Grid")
    stored = requests.get(content.json()["file_url"], timeout=10)
    assert stored.status_code == 200 and stored.text == content.json()["content"]  # in S3 beside the Grid
