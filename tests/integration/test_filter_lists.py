"""block_ads and block_trackers end to end: Debian's EasyList and EasyPrivacy in the real engine, real
Chromium locally and through the real Grid.

The page is served from 127.0.0.2 (EasyList turns its generic hiding off on 127.0.0.1 and localhost,
as on any intranet address it lists) with a cross-site iframe from 127.0.0.3: the lists must block the
requests of both frames before they are sent and hide the elements of both.  A control capture without
the options proves every request and element really is there."""

from __future__ import annotations

import pytest
import requests

from tests.servers import PageServer
from tests.support import LOOPBACK, open_png

pytestmark = pytest.mark.integration

RED, BLUE = (255, 0, 0), (0, 0, 255)
# first-party ads by resource type (EasyList: /ad_bottom.jpg$image, /ad-scroll.js$script), a tracker
# (EasyPrivacy: /piwik.js), an ad document in a frame (/ad--unit.htm|), and elements of generic hiding
# rules (###AC_ad, ##.ADBox) painted red over a blue page
PAGE = """<!doctype html><html><head><style>html,body{{margin:0;background:#0000ff}}
 #AC_ad{{width:200px;height:100px;background:#ff0000}} iframe{{border:0;width:200px;height:100px}}</style>
 </head><body><div id=AC_ad></div><img src="/ad_bottom.jpg" width=1 height=1><script src="/ad-scroll.js"></script>
 <script src="/piwik.js"></script><iframe src="{frame}/frame"></iframe><iframe src="/ad--unit.htm"></iframe>
 </body></html>"""
FRAME = """<!doctype html><html><head><style>html,body{margin:0;background:#0000ff}
 .ADBox{width:200px;height:100px;background:#ff0000}</style></head>
 <body><div class=ADBox></div><img src="/ad_bottom.jpg" width=1 height=1></body></html>"""
ASSETS = ("/ad_bottom.jpg", "/ad-scroll.js", "/piwik.js", "/ad--unit.htm")


@pytest.fixture(scope="module")
def ad_pages():
    page, frame = PageServer(host="127.0.0.2"), PageServer(host="127.0.0.3")
    page.routes["/page"] = lambda q: PAGE.format(frame=frame.base)
    frame.routes["/frame"] = lambda q: FRAME
    for server in (page, frame):
        for asset in ASSETS:
            server.routes[asset] = lambda q: ("", {"Content-Type": "text/plain"})
    yield page, frame
    page.stop()
    frame.stop()


def _asked(server: PageServer) -> set[str]:
    return {path.split("?")[0] for path in server.hits} & set(ASSETS)


def _red(png: bytes) -> int:
    counts = {color: n for n, color in open_png(png).getcolors(maxcolors=1 << 20) or []}
    return counts.get(RED, 0)


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_ads_and_trackers_are_blocked_before_they_are_sent_and_hidden_in_every_frame(start, grid, ad_pages, backend):
    page, frame = ad_pages
    env = {"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_POOL_SIZE": "1", "SNAPSHOT_LOCAL_POOL_SIZE": "1"}
    if backend == "grid":
        env |= {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"}
    service = start(env)

    def capture(**options: str) -> requests.Response:
        page.hits.clear()
        frame.hits.clear()
        query = {"url": f"{page.base}/page", "width": 400, "height": 300, "metadata": "true", **options}
        response = requests.post(f"{service.url}/create_snap", params={**query, "response_type": "json"}, timeout=60)
        assert response.status_code == 200, response.text
        return response

    control = capture()
    assert _asked(page) == set(ASSETS) and _asked(frame) == {"/ad_bottom.jpg"}
    image = requests.get(control.json()["file_url"], timeout=10).content
    assert _red(image) >= 2 * 200 * 100 * 0.9  # both ad boxes are there without the options
    assert control.json()["blocked_requests"] == 0

    both = capture(block_ads="true", block_trackers="true")
    assert _asked(page) == set() and _asked(frame) == set(), (page.hits, frame.hits)
    # the first-party image and script, the tracker, the ad frame; the cross-site frame's image
    assert both.json()["blocked_requests"] == 5
    assert _red(requests.get(both.json()["file_url"], timeout=10).content) == 0

    ads_only = capture(block_ads="true")
    assert _asked(page) == {"/piwik.js"} and _asked(frame) == set()  # the tracker is EasyPrivacy's
    assert ads_only.json()["blocked_requests"] == 4

    # undone by the reset: the next capture in the same session sees everything again
    again = capture()
    assert _asked(page) == set(ASSETS) and again.json()["blocked_requests"] == 0
    metrics = requests.get(f"{service.url}/metrics", timeout=5).text
    assert 'snapshot_blocked_requests_total{list="ads"} 8.0' in metrics
    assert 'snapshot_blocked_requests_total{list="trackers"} 1.0' in metrics
    assert f'snapshot_browser_sessions_opened_total{{backend="{backend}"}} 1.0' in metrics


def test_readyz_names_the_lists_and_a_service_without_them_refuses_the_options(start, pages, tmp_path):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "1"})
    lists = requests.get(f"{service.url}/readyz", timeout=10).json()["filter_lists"]
    assert [(entry["category"], entry["title"]) for entry in lists] == [
        ("ads", "EasyList"),
        ("trackers", "EasyPrivacy"),
    ]
    assert all(entry["rules"] > 10_000 and entry["version"] for entry in lists)

    (tmp_path / "ads-own.txt").write_text("||ads.example^\n")  # an operator's own list: ads only
    bare = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_FILTER_LISTS_DIR": str(tmp_path)})
    assert [e["file"] for e in requests.get(f"{bare.url}/readyz", timeout=10).json()["filter_lists"]] == ["ads-own.txt"]
    query = {"url": f"{pages.base}/quadrants", "width": 50, "height": 50}
    refused = requests.get(f"{bare.url}/create_snap", params={**query, "block_trackers": "true"}, timeout=30)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_options", refused.text
    assert refused.json()["details"][0]["parameter"] == "block_trackers"
    assert requests.get(f"{bare.url}/create_snap", params={**query, "block_ads": "true"}, timeout=30).status_code == 200
