"""Capture options end to end, on real Chromium, locally and through the real Grid: pixel checks on
pages the tests serve (``pages``), request checks on what the page server saw."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from functools import partial

import pytest
import requests
from PIL import Image

from service.browsers.shots import OutputSettings
from service.images import pdf_pages
from tests.servers import PageServer, Service, start_service
from tests.support import LOOPBACK, open_png

pytestmark = pytest.mark.integration

BANDS = 20  # the tall page: 20 bands of 1000 px, each with a lazy image of its own colour
RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def band_color(i: int) -> tuple[int, int, int]:
    return ((i * 37 + 20) % 256, (i * 91 + 40) % 256, (i * 53 + 60) % 256)


def _hex(color: tuple[int, int, int]) -> str:
    return "".join(f"{c:02x}" for c in color)


def _tall(query: dict[str, str]) -> str:
    bands = "".join(
        f"<div style='height:1000px;background:#{_hex(band_color(i))}'>"
        f"<img loading=lazy src='/svg/{_hex(band_color((i + 7) % BANDS))}' width=100 height=100 "
        "style='display:block;position:relative;top:450px;left:50px'></div>"
        for i in range(BANDS)
    )
    return f"<!doctype html><html><head><style>html,body{{margin:0}}</style></head><body>{bands}</body></html>"


def _image(color: str, query: dict[str, str]) -> tuple[str, dict[str, str]]:
    return _svg(color)


def _svg(path_color: str) -> tuple[str, dict[str, str]]:
    svg = (
        "<svg xmlns='http://www.w3.org/2000/svg' width='100' height='100'>"
        f"<rect width='100' height='100' fill='#{path_color}'/></svg>"
    )
    return svg, {"Content-Type": "image/svg+xml", "Cache-Control": "no-store"}


HERO = """<!doctype html><html><head><style>html,body{margin:0} .hero{height:100vh;background:#ff0000}
 .rest{height:2000px;background:#0000ff} #below{position:absolute;top:1500px;left:20px;width:60px;height:30px;
 background:#00ff00} .banner{position:fixed;left:0;right:0;bottom:0;height:50px;background:#ffff00}</style></head>
 <body><div class=hero></div><div class=rest></div><div id=below></div><div class=banner></div></body></html>"""
SCHEME = """<!doctype html><html><head><style>body{margin:0;background:#ffffff}
 @media (prefers-color-scheme: dark){body{background:#000000}}</style></head>
 <body></body></html>"""
# appears 400 ms after load
LATE = """<!doctype html><html><head><style>body{margin:0;background:#ff0000}
 #late{position:fixed;inset:0;background:#00ff00}</style></head><body><script>
 addEventListener('load', () => setTimeout(() => {
 const d = document.createElement('div'); d.id = 'late'; document.body.appendChild(d); }, 400));
 </script></body></html>"""
# turns green 300 ms after load, once a fetch it starts then has answered
FETCHER = """<!doctype html><html><head><style>body{margin:0;background:#ff0000}</style></head><body><script>
 addEventListener('load', () => setTimeout(() => fetch('/color/000000').then(() => {
 document.body.style.background = '#00ff00'; }), 300));</script></body></html>"""
BUTTON = """<!doctype html><html><head><style>body{margin:0;background:#ff0000} button{position:absolute;top:1200px;
 left:10px;width:80px;height:40px}</style></head><body><button onclick="document.body.style.background='#00ff00'">go
 </button></body></html>"""


@pytest.fixture(scope="module")
def third_party() -> Iterator[PageServer]:
    """Another origin (another port): a third party for the pages."""
    server = PageServer()
    server.routes["/pixel"] = lambda q: _svg("0000ff")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def option_pages(pages: PageServer, third_party: PageServer) -> Iterator[PageServer]:
    routes = {
        "/tall": _tall,
        "/hero": lambda q: HERO,
        "/scheme": lambda q: SCHEME,
        "/late": lambda q: LATE,
        "/fetcher": lambda q: FETCHER,
        "/button": lambda q: BUTTON,
        "/missing": lambda q: ("<!doctype html><p>gone</p>", {}, 404),
        "/with-third-party": lambda q: f"<!doctype html><img src='{third_party.base}/pixel'><img src='/svg/00ff00'>",
    }
    pages.routes.update(routes)
    for color in [*(_hex(band_color(i)) for i in range(BANDS)), "00ff00"]:
        pages.routes[f"/svg/{color}"] = partial(_image, color)
    yield pages
    for path in list(pages.routes):
        if path in routes or path.startswith("/svg/"):
            pages.routes.pop(path)


@pytest.fixture(params=["local", "grid"])
def service(request):
    return request.getfixturevalue(f"{request.param}_service")


def ok(response: requests.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def seen(server: PageServer, path: str) -> list[dict[str, str]]:
    return [headers for p, headers in server.seen if p == path]


# ------------------------------------------------------------------------------------------ full page


def test_a_tall_lazy_page_is_captured_whole_with_every_image_and_no_repeated_band(snap, service, option_pages):
    response = snap(service, "/tall", 200, 400, full_page="true", full_page_scroll_delay="50")
    image = ok(response).convert("RGB")
    assert image.size == (200, BANDS * 1000)  # taller than one capture can be: taken in tiles
    assert response.headers["X-Snapshot-Page-Height"] == str(BANDS * 1000)
    for i in range(BANDS):
        top = i * 1000
        assert image.getpixel((150, top + 100)) == band_color(i), f"band {i}"
        assert image.getpixel((100, top + 500)) == band_color((i + 7) % BANDS), f"the lazy image of band {i}"


def _observed(query: dict[str, str]) -> str:
    """12 sections that take their colour only once an IntersectionObserver saw them, and a last one that adds two
    more when it is seen (content that comes on scroll, with no native lazy loading)."""
    sections = "".join(f"<section data-color='{_hex(band_color(i))}'></section>" for i in range(12))
    return f"""<!doctype html><html><head><style>body{{margin:0}} section{{height:500px;background:#fff}}</style>
      </head><body>{sections}<div id=more style='height:10px'></div><script>
      const seen = new IntersectionObserver((entries) => entries.forEach((e) => {{
        if (!e.isIntersecting) return;
        if (e.target.id === 'more') {{
          seen.unobserve(e.target);
          for (const color of ['{_hex(band_color(12))}', '{_hex(band_color(13))}']) {{
            const s = document.createElement('section');
            s.dataset.color = color;
            e.target.before(s);
            seen.observe(s);
          }}
          return;
        }}
        setTimeout(() => {{ e.target.style.background = '#' + e.target.dataset.color; }}, 30);
        seen.unobserve(e.target);
      }}));
      document.querySelectorAll('section, #more').forEach((el) => seen.observe(el));
    </script></body></html>"""


def test_content_that_comes_on_scroll_is_all_there_with_the_default_scroll(snap, service, option_pages):
    option_pages.routes["/observed"] = _observed
    image = ok(snap(service, "/observed", 300, 400, full_page="true")).convert("RGB")
    assert image.size == (300, 14 * 500 + 10)  # the two sections added on the way down included
    for i in range(14):
        assert image.getpixel((150, i * 500 + 250)) == band_color(i), f"section {i}"


SHOT_PIXELS = 1_000_000  # a service taking at most this much in one screenshot: 400 px wide pages are tiled
MARKERS = {-2: (0, 128, 0), -1: (255, 0, 0), 0: (0, 0, 255), 1: (255, 255, 0)}  # rows around each seam


def _seams(scale: int) -> list[int]:
    """CSS rows where the tiles of a 400 px wide, 9000 px tall page meet, at ``scale``."""
    rows = OutputSettings(max_shot_pixels=SHOT_PIXELS).shot_rows(400, scale)
    return list(range(rows, 9000, rows))


def _seams_page(query: dict[str, str]) -> str:
    lines = "".join(
        f"<div style='position:absolute;left:0;right:0;top:{seam + offset}px;height:1px;background:rgb{color}'></div>"
        for seam in _seams(int(query.get("scale", "1")))
        for offset, color in MARKERS.items()
    )
    return f"<!doctype html><body style='margin:0'><div style='position:relative;height:9000px'>{lines}</div></body>"


@pytest.fixture(scope="module")
def tiling_service() -> Iterator[Service]:
    service = start_service({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_MAX_SHOT_PIXELS": str(SHOT_PIXELS)})
    yield service
    assert service.stop() == 0


@pytest.mark.parametrize("scale", [1, 2])
def test_the_rows_on_both_sides_of_each_tile_seam_are_where_the_page_has_them(snap, tiling_service, option_pages,
                                                                              scale):  # fmt: skip
    """Past SNAPSHOT_MAX_SHOT_PIXELS a full page is taken in tiles: marker lines on both sides of every seam land
    on their own rows (a tile one pixel off moves them)."""
    option_pages.routes["/seams"] = _seams_page
    response = snap(tiling_service, "/seams", 400, 200, full_page="true", device_scale_factor=str(scale),
                    url=f"{option_pages.base}/seams?scale={scale}")  # fmt: skip
    image = ok(response).convert("RGB")
    assert image.size == (400 * scale, 9000 * scale)
    assert len(_seams(scale)) >= 3
    for seam in _seams(scale):
        for offset, color in MARKERS.items():
            for row in range((seam + offset) * scale, (seam + offset + 1) * scale):
                assert image.getpixel((200, row)) == color, f"row {row} (seam {seam}{offset:+d}, scale {scale})"
        assert image.getpixel((200, (seam + 3) * scale)) == WHITE


def _stripes(query: dict[str, str]) -> str:
    height = int(query["height"])
    bands = "".join(f"<div style='height:64px;background:rgb{stripe(i)}'></div>" for i in range(height // 64 + 1))
    return f"<!doctype html><body style='margin:0'>{bands}</body>"


def stripe(i: int) -> tuple[int, int, int]:
    return (i * 37) % 256, (i * 91) % 256, (i * 13 + 50) % 256


@pytest.mark.parametrize("image_format", ["png", "jpeg"])
def test_a_page_at_the_pixel_limit_is_one_exact_shot(snap, service, option_pages, image_format):
    """1280 px wide to SNAPSHOT_MAX_PIXELS (26214 rows), taken in one screenshot: every band where the page has it
    (a browser that repeats or blanks a part fails)."""
    option_pages.routes["/stripes"] = _stripes
    response = snap(service, "/stripes", 1280, 800, full_page="true", full_page_scroll="false", format=image_format,
                    url=f"{option_pages.base}/stripes?height=30000", request_timeout=120)  # fmt: skip
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert image.size == (1280, 26214) and response.headers["X-Snapshot-Truncated"] == "true"
    tolerance = 0 if image_format == "png" else 12
    for i in range(0, 26214 // 64):
        for x in (10, 640, 1270):
            got, want = image.getpixel((x, i * 64 + 32)), stripe(i)
            assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= tolerance, f"band {i} at x={x}: {got}"


def test_a_100vh_hero_is_not_stretched_by_a_full_page_capture(snap, service, option_pages):
    image = open_png(snap(service, "/hero", 300, 200, full_page="true").content)
    assert image.size == (300, 2200)
    # the hero is one viewport tall (its fixed banner at that viewport's bottom), then the rest
    assert image.getpixel((150, 140)) == RED and image.getpixel((150, 199)) == (255, 255, 0)
    assert image.getpixel((150, 200)) == BLUE and image.getpixel((150, 2199)) == BLUE


def test_a_full_page_is_cut_at_its_maximum_height_and_says_so(snap, local_service, option_pages):
    response = snap(local_service, "/hero", 300, 200, full_page="true", full_page_max_height="500")
    assert ok(response).size == (300, 500)
    assert response.headers["X-Snapshot-Truncated"] == "true"
    assert response.headers["X-Snapshot-Page-Height"] == "2200"


# ------------------------------------------------------------------------------------------ region, output


def test_an_element_below_the_fold_is_captured_exactly(snap, service, option_pages):
    image = open_png(snap(service, "/hero", 300, 200, selector="#below").content)
    assert image.size == (60, 30)
    assert {image.getpixel((x, y)) for x in (0, 59) for y in (0, 29)} == {GREEN}
    padded = open_png(snap(service, "/hero", 300, 200, selector="#below", selector_padding="5").content)
    assert padded.size == (70, 40) and padded.getpixel((2, 2)) == BLUE and padded.getpixel((35, 20)) == GREEN


def test_a_clip_is_a_region_of_the_page(snap, local_service, option_pages):
    image = open_png(
        snap(local_service, "/hero", 300, 200, clip_x="10", clip_y="1480", clip_width="40", clip_height="40").content
    )
    assert image.size == (40, 40) and image.getpixel((5, 5)) == BLUE and image.getpixel((15, 25)) == GREEN


def test_a_selector_that_matches_nothing_is_a_422(snap, local_service, option_pages):
    response = snap(local_service, "/hero", 300, 200, selector="#nothing-here")
    assert response.status_code == 422 and response.json()["error"] == "selector_not_found"


@pytest.mark.parametrize(("fmt", "pil"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_jpeg_and_webp_at_a_device_scale_factor(snap, service, option_pages, fmt, pil):
    response = snap(service, "/hero", 300, 200, format=fmt, quality="60", device_scale_factor="2")
    image = ok(response)
    assert image.format == pil and image.size == (600, 400)
    assert response.headers["Content-Type"] == f"image/{fmt}"
    red = image.convert("RGB").getpixel((300, 200))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_pngs_are_encoded_for_speed_unless_the_operator_asks_for_size(snap, start, local_service, option_pages):
    env = {"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_PNG_ENCODING": "size"}
    fast, small = (snap(service, "/cards?n=80", 700, 500) for service in (local_service, start(env)))
    assert ok(fast).convert("RGBA").tobytes() == ok(small).convert("RGBA").tobytes()  # the same pixels
    assert len(small.content) < 0.9 * len(fast.content)


def test_omit_background_gives_transparency(snap, local_service, option_pages):
    pages = option_pages
    pages.routes["/bare"] = lambda q: "<!doctype html><html><body style='margin:0'></body></html>"
    image = ok(snap(local_service, "/bare", 100, 100, omit_background="true"))
    assert image.mode == "RGBA" and image.getpixel((50, 50))[3] == 0


# ------------------------------------------------------------------------------------------ page changes


def test_a_banner_is_hidden_and_dark_mode_changes_the_page(snap, service, option_pages):
    with_banner = open_png(snap(service, "/hero", 300, 200).content)
    assert with_banner.getpixel((150, 190)) == (255, 255, 0)
    hidden = open_png(snap(service, "/hero", 300, 200, hide_selectors=[".banner", ".nothing"]).content)
    assert hidden.getpixel((150, 190)) == RED
    assert open_png(snap(service, "/scheme", 100, 100).content).getpixel((50, 50)) == WHITE
    assert open_png(snap(service, "/scheme", 100, 100, dark_mode="true").content).getpixel((50, 50)) == BLACK


def test_styles_are_added(snap, local_service, option_pages):
    image = open_png(snap(local_service, "/scheme", 100, 100, styles="body { background: #0000ff !important }").content)
    assert image.getpixel((50, 50)) == BLUE


def test_scripts_run_only_where_the_operator_allows_them(snap, start, local_service, option_pages):
    refused = snap(local_service, "/scheme", 100, 100, scripts="document.body.style.background = '#00ff00'")
    assert refused.status_code == 400 and refused.json()["details"][0]["parameter"] == "scripts"
    allowing = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_ALLOW_SCRIPTS": "true"})
    image = open_png(snap(allowing, "/scheme", 100, 100, scripts="document.body.style.background = '#00ff00'").content)
    assert image.getpixel((50, 50)) == GREEN
    failing = snap(allowing, "/scheme", 100, 100, scripts="throw new Error('nope')")
    assert failing.status_code == 422 and failing.json()["error"] == "script_failed"


def test_click_and_wait_for_selector(snap, service, option_pages):
    assert open_png(snap(service, "/button", 100, 100).content).getpixel((50, 50)) == RED
    assert open_png(snap(service, "/button", 100, 100, click="button").content).getpixel((50, 50)) == GREEN
    assert open_png(snap(service, "/late", 100, 100).content).getpixel((50, 50)) == RED
    assert open_png(snap(service, "/late", 100, 100, wait_for_selector="#late").content).getpixel((50, 50)) == GREEN


def test_networkidle_waits_for_the_pages_own_requests(snap, local_service, option_pages):
    assert open_png(snap(local_service, "/fetcher", 100, 100).content).getpixel((50, 50)) == RED
    idle = open_png(snap(local_service, "/fetcher", 100, 100, wait_until="networkidle0").content)
    assert idle.getpixel((50, 50)) == GREEN


def test_a_wait_that_runs_out_is_a_504_unless_best_attempt(snap, local_service, option_pages):
    started = time.monotonic()
    response = snap(local_service, "/scheme", 100, 100, wait_for_selector="#never", timeout="1500")
    assert response.status_code == 504 and time.monotonic() - started < 3
    best = snap(local_service, "/scheme", 100, 100, wait_for_selector="#never", timeout="2500", best_attempt="true")
    assert open_png(best.content).getpixel((50, 50)) == WHITE


# ------------------------------------------------------------------------------------------ request context


def test_headers_reach_the_target_origin_only_unless_scoped_to_all(snap, service, option_pages, third_party):
    third_party.seen.clear()
    option_pages.seen.clear()
    ok(snap(service, "/with-third-party", 100, 100, headers="X-Test: secret"))
    assert seen(option_pages, "/with-third-party")[-1]["x-test"] == "secret"
    assert seen(option_pages, "/svg/00ff00")[-1]["x-test"] == "secret"  # same origin
    assert "x-test" not in seen(third_party, "/pixel")[-1]
    ok(snap(service, "/with-third-party", 100, 100, headers="X-Test: secret", headers_scope="all"))
    assert seen(third_party, "/pixel")[-1]["x-test"] == "secret"


def test_user_agent_and_cookies_reach_the_page(snap, local_service, option_pages):
    option_pages.seen.clear()
    cookie = "session=abc123; Path=/; HttpOnly"
    ok(snap(local_service, "/scheme", 100, 100, user_agent="SnapshotTest/1.0", cookies=cookie))
    headers = seen(option_pages, "/scheme")[-1]
    assert headers["user-agent"] == "SnapshotTest/1.0" and headers["cookie"] == "session=abc123"


def test_a_cookie_for_another_domain_is_refused(snap, local_service, option_pages):
    response = snap(local_service, "/scheme", 100, 100, cookies="a=b; Domain=internal.example")
    assert response.status_code == 400 and response.json()["details"][0]["parameter"] == "cookies"


def test_blocked_requests_never_reach_the_server(snap, service, option_pages, third_party):
    third_party.seen.clear()
    option_pages.seen.clear()
    ok(snap(service, "/with-third-party", 100, 100, block_requests=f"{third_party.base}/*"))
    assert seen(third_party, "/pixel") == [] and seen(option_pages, "/svg/00ff00")
    option_pages.seen.clear()
    ok(snap(service, "/with-third-party", 100, 100, block_resources="image"))
    assert seen(option_pages, "/svg/00ff00") == [] and seen(third_party, "/pixel") == []
    assert seen(option_pages, "/with-third-party")  # the document itself is never blocked


def test_headers_reach_the_target_only_from_its_own_frames(snap, service, option_pages, third_party):
    """A cross-origin frame in the target's page asks the target's origin for something: that request does
    not carry the client's headers (they are meant for the target's own requests), the page's own do."""
    option_pages.routes["/svg/0000aa"] = partial(_image, "0000aa")
    third_party.routes["/evil-frame"] = lambda q: f"<!doctype html><img src='{option_pages.base}/svg/0000aa'>"
    option_pages.routes["/framed-evil"] = lambda q: (
        f"<!doctype html><img src='/svg/00ff00'><iframe src='{third_party.base}/evil-frame'></iframe>"
    )
    option_pages.seen.clear()
    try:
        ok(snap(service, "/framed-evil", 200, 200, headers="Authorization: Bearer client-secret"))
        assert seen(third_party, "/evil-frame"), "the frame was not loaded"
        assert [h.get("authorization") for h in seen(option_pages, "/svg/00ff00")] == ["Bearer client-secret"]
        from_frame = seen(option_pages, "/svg/0000aa")
        assert from_frame and all("authorization" not in h for h in from_frame)
    finally:
        for server, path in (
            (option_pages, "/svg/0000aa"),
            (third_party, "/evil-frame"),
            (option_pages, "/framed-evil"),
        ):
            server.routes.pop(path)


def test_a_backtracking_pattern_does_not_freeze_the_service(snap, service, option_pages):
    """Every request the page makes is matched against the patterns in the CDP event handler: a pattern
    that backtracks on the page's own URL (matched as a regex, minutes of CPU under the GIL) is matched in
    linear time, and the capture is answered."""
    hostile = "*" + "a*" * 30 + "b"
    answer = snap(service, "/color/ff0000?" + "a" * 1500, 50, 50, block_requests=hostile)
    assert answer.status_code == 200 and open_png(answer.content).getpixel((10, 10)) == RED
    assert requests.get(f"{service.url}/healthz", timeout=5).status_code == 200


def test_request_rules_reach_into_cross_site_frames(snap, service, option_pages, third_party):
    """A cross-site iframe runs in its own process (its own CDP target): its requests are intercepted too."""
    elsewhere = option_pages.base.replace("127.0.0.1", "localhost")
    option_pages.routes["/framed"] = lambda q: f"<!doctype html><iframe src='{elsewhere}/with-third-party'></iframe>"
    third_party.seen.clear()
    ok(snap(service, "/framed", 200, 200, block_requests=f"{third_party.base}/*"))
    assert seen(option_pages, "/with-third-party"), "the frame was not loaded at all"
    assert seen(third_party, "/pixel") == []
    ok(snap(service, "/framed", 200, 200, headers="X-Test: secret", headers_scope="all"))
    assert seen(third_party, "/pixel")[-1]["x-test"] == "secret"


# ------------------------------------------------------------------------------------------ outcome, pdf, json


def test_fail_on_http_error_and_the_outcome_headers(snap, service, option_pages):
    plain = snap(service, "/missing", 100, 100)
    assert plain.status_code == 200 and plain.headers["X-Snapshot-Http-Status"] == "404"
    assert plain.headers["X-Snapshot-Final-Url"] == option_pages.base + "/missing"
    failed = snap(service, "/missing", 100, 100, fail_on_http_error="true")
    assert failed.status_code == 424 and failed.json()["error"] == "target_http_error"


def test_a_pdf_of_the_page(service, option_pages):
    response = requests.get(
        f"{service.url}/create_pdf",
        params={"url": option_pages.base + "/tall", "pdf_paper_format": "a4", "pdf_margin": "10mm"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF-")
    assert pdf_pages(response.content) >= 2  # 20000 px of page on A4


def test_a_posted_pdf_is_stored(service, option_pages):
    response = requests.post(f"{service.url}/create_pdf", data={"url": option_pages.base + "/hero"}, timeout=60)
    assert response.status_code == 200, response.text
    stored = requests.get(response.json()["file_url"], timeout=10)
    assert stored.headers["Content-Type"] == "application/pdf" and stored.content.startswith(b"%PDF-")


def test_outputs_over_the_limits_are_a_400_and_the_service_carries_on(snap, start, option_pages):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_MAX_PDF_PAGES": "1",
                     "SNAPSHOT_MAX_IMAGE_BYTES": "2000", "SNAPSHOT_MAX_PIXELS": "1100000"})  # fmt: skip
    pdf = requests.get(f"{service.url}/create_pdf", params={"url": option_pages.base + "/tall"}, timeout=60)
    assert pdf.status_code == 400 and pdf.json()["error"] == "output_too_large"
    image = snap(service, "/cards", 300, 300)  # text and shadows: far more than 2000 bytes
    assert image.status_code == 400 and image.json()["error"] == "output_too_large"
    # an element's box counts like any picture: 300 x 20000 pixels are refused before the browser makes them
    box = snap(service, "/tall", 300, 300, selector="body")
    assert box.status_code == 400 and "selector's box" in box.json()["message"]
    assert ok(snap(service, "/scheme", 10, 10)).size == (10, 10)


def test_a_pdf_is_read_as_a_stream_and_given_up_past_the_byte_limit(local_service, start, option_pages):
    params = {"url": option_pages.base + "/tall", "pdf_print_background": "true"}
    whole = requests.get(f"{local_service.url}/create_pdf", params=params, timeout=60)
    assert whole.status_code == 200 and pdf_pages(whole.content) >= 2
    cut = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_MAX_IMAGE_BYTES": str(len(whole.content) - 1)})
    over = requests.get(f"{cut.url}/create_pdf", params=params, timeout=60)
    assert over.status_code == 400 and "bytes" in over.json()["message"]


def test_a_json_post_stores_the_image_in_its_format(service, option_pages):
    body = {"url": option_pages.base + "/hero", "width": 300, "height": 200, "format": "webp", "full_page": True}
    response = requests.post(f"{service.url}/create_snap", json=body, timeout=60)
    assert response.status_code == 200, response.text
    stored = requests.get(response.json()["file_url"], timeout=10)
    assert stored.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(stored.content)).size == (300, 2200)


# ------------------------------------------------------------------------------------------ isolation


EVERYTHING = """<!doctype html><html><head><style>body{margin:0;font:16px monospace;background:#ffffff}
 @media (prefers-color-scheme: dark){body{background:#000000;color:#fff}}
 @media print{body{background:#ff00ff}} @media (prefers-reduced-motion: reduce){body{border-top:9px solid red}}
 </style></head><body><p id=ua></p><p id=c></p><p>X-Test: %s</p><img src='/svg/00ff00' width=20 height=20>
 <p id=env></p><script>ua.textContent = navigator.userAgent; c.textContent = 'cookies: ' + document.cookie;
env.textContent = [Intl.DateTimeFormat().resolvedOptions().timeZone, navigator.languages, 'ontouchstart' in window,
  devicePixelRatio, matchMedia('(pointer: coarse)').matches, (1234.5).toLocaleString(), typeof Date.now(),
  EventTarget.prototype.addEventListener.toString().includes('[native code]')];
</script></body></html>"""


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_a_capture_after_one_with_every_option_is_pixel_identical_to_a_fresh_one(
    start, grid, snap, option_pages, backend
):
    option_pages.routes["/everything"] = lambda q: EVERYTHING % q["_x_test"]
    env = {"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_POOL_SIZE": "1", "SNAPSHOT_LOCAL_POOL_SIZE": "1",
           "SNAPSHOT_ALLOW_SCRIPTS": "true"}  # fmt: skip
    if backend == "grid":
        env |= {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"}
    service = start(env)
    fresh = snap(service, "/everything", 400, 300).content
    # the emulations that need a browser context of their own (their overrides go with it); first, since the
    # session's tab is attached afresh after them, which would hide what the captures below leave behind
    ok(snap(service, "/everything", 400, 300, latitude="1.5", longitude="2.5", http_auth="user:password"))
    every = {
        "user_agent": "Other/9",
        "headers": "X-Test: set",
        "cookies": "c=1",
        "dark_mode": "true",
        "reduced_motion": "true",
        "media_type": "print",
        "styles": "p { color: red }",
        "hide_selectors": "img",
        "scripts": "document.body.append('scripted')",
        "block_resources": "image",
        "disable_animations": "true",
        "omit_background": "true",
        "device_scale_factor": "2",
        "full_page": "true",
        "wait_until": "networkidle2",
        "block_cookie_banners": "true",
        "block_ads": "true",
        "block_trackers": "true",
        "metadata": "true",
        "evidence": "true",
        "timezone": "Asia/Tokyo",
        "locale": "de-DE",
        "device": "Pixel 7",
        "touch": "true",
        "mobile": "true",
        "deterministic": "true",
    }
    ok(snap(service, "/everything", 400, 300, **every))
    # and a body's capture (its document served from the tab's own interception)
    body = {"html": "<body style='background:#123456'>body</body>", "width": 400, "height": 300, "metadata": "true"}
    ok(requests.get(f"{service.url}/create_snap", params=body, timeout=60))
    # and scripts off
    ok(snap(service, "/everything", 400, 300, javascript="false"))
    after = snap(service, "/everything", 400, 300).content
    assert open_png(after).tobytes() == open_png(fresh).tobytes()
    # and all six ran in the one session: nothing was undone by replacing it
    metrics = requests.get(f"{service.url}/metrics", timeout=5).text
    assert f'snapshot_browser_sessions_opened_total{{backend="{backend}"}} 1.0' in metrics


def test_a_command_the_browser_refuses_is_the_pages_failure_not_the_grids(start, grid, snap, option_pages):
    """Chrome refuses the cookie (its Path is not absolute): a 502 for this request; the session is kept,
    nothing is retried, and the Grid's circuit breaker counts no failure (a threshold of 1 would open it)."""
    service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_POOL_SIZE": "1",
                     "SNAPSHOT_GRID_FALLBACK": "local", "SNAPSHOT_GRID_FALLBACK_THRESHOLD": "1"})  # fmt: skip
    refused = snap(service, "/scheme", 50, 50, cookies="a=b; Path=relative")
    assert refused.status_code == 502 and refused.json()["error"] == "capture_failed", refused.text
    assert "Invalid cookie fields" in refused.json()["message"]
    after = snap(service, "/scheme", 50, 50)
    assert after.status_code == 200 and after.headers["X-Snapshot-Backend"] == "grid"
    assert requests.get(f"{service.url}/readyz", timeout=10).json()["checks"]["grid_circuit"] == "closed"
    metrics = requests.get(f"{service.url}/metrics", timeout=5).text
    assert 'snapshot_browser_sessions_opened_total{backend="grid"} 1.0' in metrics


# ------------------------------------------------------------------------------------------ cookie banners

# a consent popup as the "adopt" platform draws it (one of autoconsent's rules): rejecting turns the page green
CONSENT = """<!doctype html><html><body style='margin:0;background:#ff0000'>
 <button id=adopt-controller-button style='display:none'>cookies</button>
 <div id=cookie-banner style='position:fixed;left:0;right:0;bottom:0;height:40px;background:#ffff00'>
 <button id=adopt-accept-all-button>Accept all</button>
 <button id=adopt-reject-all-button onclick="document.getElementById('cookie-banner').remove();
   document.body.style.background = '#00ff00'">Reject all</button></div></body></html>"""


# one as the "piano.io" platform draws it in its own iframe (a rule autoconsent runs in frames only)
FRAME_CONSENT = """<!doctype html><html><body style='margin:0;background:#ff0000'>
 <div id=piano-cookie_banner style='position:fixed;left:0;right:0;bottom:0;height:40px;background:#ffff00'>
 <button data-acceptance-button>Accept</button>
 <button data-close-button onclick="document.getElementById('piano-cookie_banner').remove();
   document.body.style.background = '#00ff00'">Close</button></div></body></html>"""


def test_cookie_banners_are_opted_out_in_the_page_and_in_cross_site_frames(snap, service, option_pages):
    option_pages.routes["/consent"] = lambda q: CONSENT
    option_pages.routes["/consent-in-frame"] = lambda q: FRAME_CONSENT
    elsewhere = option_pages.base.replace("127.0.0.1", "localhost")  # another site: its own process
    option_pages.routes["/consent-frame"] = lambda q: (
        "<!doctype html><html><body style='margin:0'><iframe src='" + elsewhere + "/consent-in-frame' "
        "style='border:0;width:200px;height:100px'></iframe></body></html>"
    )
    plain = open_png(snap(service, "/consent", 200, 100).content)
    assert plain.getpixel((100, 20)) == RED and plain.getpixel((100, 90)) == (255, 255, 0)
    for path in ("/consent", "/consent-frame"):
        image = open_png(snap(service, path, 200, 100, block_cookie_banners="true").content)
        assert image.getpixel((100, 20)) == GREEN, f"{path}: the popup was not rejected"
        assert image.getpixel((100, 90)) == GREEN, f"{path}: the popup is still there"
