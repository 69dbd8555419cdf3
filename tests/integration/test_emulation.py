"""Emulation and deterministic captures in real browsers (local Chromium and the Grid's): pages that check
each property themselves - time zone, locale, Accept-Language, position, device, touch, scripts, HTTP
credentials - report what they saw through ``/create_content``; three deterministic captures of a page full
of clocks, randomness and animations are the same bytes; and the next capture sees the defaults again."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime

import pytest
import requests

from tests.servers import PageServer
from tests.support import LOOPBACK, open_png

pytestmark = pytest.mark.integration

PROBE = """<!doctype html><body><pre id=out></pre><script>
const out = {tz: Intl.DateTimeFormat().resolvedOptions().timeZone, lang: navigator.language,
  langs: navigator.languages, intl: Intl.NumberFormat().resolvedOptions().locale,
  number: (1234.5).toLocaleString(), offset: new Date(0).getTimezoneOffset(), ua: navigator.userAgent,
  dpr: devicePixelRatio, touch: 'ontouchstart' in window, touchPoints: navigator.maxTouchPoints,
  coarse: matchMedia('(pointer: coarse)').matches};
document.getElementById('out').textContent = JSON.stringify(out);
const say = (text) => {
  const p = document.createElement('p'); p.id = 'geo'; p.textContent = text; document.body.append(p); };
if (navigator.geolocation) navigator.geolocation.getCurrentPosition(
  (p) => say(JSON.stringify([p.coords.latitude, p.coords.longitude, p.coords.accuracy])), (e) => say('denied'));
</script>"""
MOVING = """<!doctype html><html><head><style>
@keyframes spin { from { transform: rotate(0deg) } to { transform: rotate(360deg) } }
@keyframes slide { from { left: 0 } to { left: 200px } }
#spin { width: 60px; height: 60px; background: linear-gradient(90deg, #f00, #00f);
        animation: spin 0.7s linear infinite }
#slide { position: relative; width: 40px; height: 20px; background: #080; animation: slide 3s forwards }
#fade { width: 80px; height: 20px; background: #00f; transition: opacity 5s }
</style></head><body><div id=spin></div><div id=slide></div><div id=fade></div><input id=field autofocus>
<p id=values></p><canvas id=noise width=64 height=16></canvas><script>
document.getElementById('fade').style.opacity = '0.1';
const c = document.getElementById('noise').getContext('2d');
for (let x = 0; x < 64; x++) { c.fillStyle = `hsl(${Math.random() * 360}, 80%, 50%)`; c.fillRect(x, 0, 1, 16); }
document.getElementById('values').textContent =
  `${Date.now()} ${new Date().toISOString()} ${Math.random()} ${performance.now()} ${crypto.randomUUID()}`;
</script></body></html>"""


@pytest.fixture
def emulation_pages(pages):
    pages.routes["/probe"] = lambda q: PROBE
    pages.routes["/moving"] = lambda q: MOVING
    pages.routes["/scripted"] = lambda q: (
        "<!doctype html><body style='margin:0;background:#00ff00'><p id=p>static</p>"
        "<script>document.body.style.background = '#ff0000'; document.title = 'ran'</script></body>"
    )
    yield pages
    for path in ("/probe", "/moving", "/scripted"):
        pages.routes.pop(path)


def probe(service, pages, **options) -> tuple[dict, str]:
    """What the probe page saw, and what it said about its position."""
    fields = {"url": pages.base + "/probe", "format": "text", "response_type": "json", **options}
    if "latitude" in options:
        fields["wait_for_selector"] = "#geo"
    answer = requests.post(f"{service.url}/create_content", json=fields, timeout=60)
    assert answer.status_code == 200, answer.text
    lines = [line for line in answer.json()["content"].splitlines() if line.strip()]
    return json.loads(lines[0]), (lines[1] if len(lines) > 1 else "")


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_a_page_sees_the_time_zone_locale_position_and_device_it_is_given(start, grid, emulation_pages, backend):
    env = {"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_POOL_SIZE": "1",
           "SNAPSHOT_DEFAULT_TIMEZONE": "America/New_York", "SNAPSHOT_DEFAULT_LOCALE": "fr-FR"}  # fmt: skip
    if backend == "grid":
        env |= {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"}
    service = start(env)
    pages = emulation_pages
    # the service's defaults, whatever the machine the browser runs on says
    seen, _ = probe(service, pages)
    assert (seen["tz"], seen["lang"], seen["intl"], seen["offset"]) == ("America/New_York", "fr-FR", "fr-FR", 300)
    assert pages.seen[-1][1]["accept-language"] == "fr-FR"
    # a capture's own
    seen, position = probe(service, pages, timezone="Asia/Tokyo", locale="de-DE", latitude=48.8584, longitude=2.2945,
                           accuracy=25)  # fmt: skip
    assert (seen["tz"], seen["offset"], seen["lang"], seen["langs"]) == ("Asia/Tokyo", -540, "de-DE", ["de-DE"])
    assert seen["number"] == "1.234,5" and pages.seen[-1][1]["accept-language"] == "de-DE"
    assert json.loads(position) == [48.8584, 2.2945, 25]
    # a device of Playwright's registry: its user agent, scale, touch; its viewport the default size
    device = requests.get(f"{service.url}/devices", timeout=10).json()
    pixel = next(d for d in device["devices"] if d["name"] == "Pixel 7")
    assert device["source"] == "playwright-core 1.50.0"
    seen, _ = probe(service, pages, device="Pixel 7")
    assert seen["ua"] == pixel["user_agent"] and seen["dpr"] == pixel["scale"]
    assert seen["touch"] and seen["touchPoints"] > 0 and seen["coarse"]
    shot = requests.get(f"{service.url}/create_snap", params={"url": pages.base + "/probe", "device": "Pixel 7"},
                        timeout=60)  # fmt: skip
    assert shot.status_code == 200, shot.text
    width, height = open_png(shot.content).size
    assert abs(width - pixel["width"] * pixel["scale"]) < 1 and abs(height - pixel["height"] * pixel["scale"]) < 1
    explicit = requests.get(
        f"{service.url}/create_snap",
        timeout=60,
        params={
            "url": pages.base + "/probe",
            "device": "Pixel 7",
            "width": 300,
            "height": 200,
            "device_scale_factor": 1,
        },
    )
    assert open_png(explicit.content).size == (300, 200)  # explicit ones win
    seen, _ = probe(service, pages, touch=True)
    assert seen["touch"] and not probe(service, pages)[0]["touch"]
    # and then the defaults again, in the same browser
    seen, position = probe(service, pages)
    assert (seen["tz"], seen["lang"], seen["dpr"], seen["touch"]) == ("America/New_York", "fr-FR", 1, False)
    assert position == "denied" and "HeadlessChrome" in seen["ua"]


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_deterministic_captures_of_a_moving_page_are_the_same_bytes(start, grid, emulation_pages, backend):
    env = {"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_POOL_SIZE": "1"}
    if backend == "grid":
        env |= {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"}
    service = start(env)
    query = {"url": emulation_pages.base + "/moving", "width": 400, "height": 300}

    def digests(**options: str) -> set[str]:
        shots = [requests.get(f"{service.url}/create_snap", params={**query, **options}, timeout=60) for _ in range(3)]
        assert all(shot.status_code == 200 for shot in shots), [shot.text for shot in shots]
        return {hashlib.sha256(shot.content).hexdigest() for shot in shots}

    assert len(digests(deterministic="true")) == 1
    assert len(digests(deterministic="true", freeze_time="2030-05-01T08:00:00+02:00")) == 1
    assert digests(deterministic="true") != digests(deterministic="true", freeze_time="2030-05-01T08:00:00Z")
    assert len(digests()) == 3  # the same page without it: every capture differs
    content = requests.get(
        f"{service.url}/create_content",
        timeout=60,
        params={**query, "format": "text", "deterministic": "true", "freeze_time": "2030-05-01T06:00:00Z"},
    ).text
    frozen = int(datetime(2030, 5, 1, 6, tzinfo=UTC).timestamp() * 1000)
    assert content.startswith(f"{frozen + 1} 2030-05-01T06:00:00.002Z "), content  # a millisecond per reading


def test_scripts_off_the_page_runs_none_and_the_services_steps_still_work(local_service, emulation_pages):
    query = {"url": emulation_pages.base + "/scripted", "width": 100, "height": 80}
    off = requests.post(
        f"{local_service.url}/create_snap",
        timeout=60,
        json={**query, "javascript": False, "wait_for_selector": "#p", "hide_selectors": ["#p"], "metadata": True},
    )
    assert off.status_code == 200, off.text
    assert off.json()["http_status"] == 200 and off.json()["page_title"] == ""
    assert open_png(requests.get(off.json()["file_url"], timeout=10).content).getpixel((50, 70)) == (0, 255, 0)
    on = requests.get(f"{local_service.url}/create_snap", params=query, timeout=60)
    assert open_png(on.content).getpixel((50, 70)) == (255, 0, 0)  # the next capture runs them again
    refused = requests.get(f"{local_service.url}/create_snap", params={**query, "javascript": "false",
                                                                       "scripts": "1"}, timeout=60)  # fmt: skip
    assert refused.status_code == 400


@pytest.fixture
def other_origin():
    server = PageServer(host="127.0.0.2")
    yield server
    server.stop()


def _basic(query: dict[str, str], realm: str) -> tuple[str, dict[str, str], int]:
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    if query["_authorization"] == expected:
        return "<!doctype html><body style='margin:0;background:#0000ff'>in</body>", {}, 200
    return "no", {"WWW-Authenticate": f'Basic realm="{realm}"'}, 401


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_http_auth_answers_the_targets_challenge_and_nobody_elses(start, grid, pages, other_origin, backend):
    pages.routes["/private"] = lambda q: (
        (f"<!doctype html><body style='margin:0;background:#0000ff'><img src='{other_origin.base}/private'>"
         f"<iframe src='{other_origin.base}/private'></iframe></body>", {}, 200)
        if _basic(q, "target")[2] == 200 else _basic(q, "target"))  # fmt: skip
    other_origin.routes["/private"] = lambda q: _basic(q, "elsewhere")
    env = {"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_POOL_SIZE": "1"}
    if backend == "grid":
        env |= {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"}
    service = start(env)
    query = {"url": pages.base + "/private", "width": 200, "height": 100}
    other_origin.seen.clear()
    shot = requests.get(f"{service.url}/create_snap", params={**query, "http_auth": "alice:s3cret"}, timeout=60)
    assert shot.status_code == 200 and shot.headers["X-Snapshot-Http-Status"] == "200", shot.text
    assert open_png(shot.content).getpixel((190, 90)) == (0, 0, 255)
    assert other_origin.seen, "the page's other origin was never asked"
    assert all("authorization" not in headers for _, headers in other_origin.seen)  # never sent elsewhere
    # the next capture has none (its context, and the credentials the browser cached, went with the capture):
    # Chrome gives up on an unanswered challenge (net::ERR_INVALID_AUTH_CREDENTIALS)
    denied = requests.get(f"{service.url}/create_snap", params=query, timeout=60)
    assert denied.status_code == 502 and denied.json()["error"] == "unreachable", denied.text
    log = service.proc.log_path.read_text()
    assert "s3cret" not in log
    job = requests.post(f"{service.url}/create_snap", json={**query, "http_auth": "alice:s3cret", "async": True},
                        timeout=60).json()  # fmt: skip
    record = requests.get(f"{service.url}/jobs/{job['id']}", timeout=10).text
    assert "s3cret" not in record


def _digest(query: dict[str, str], path: str) -> tuple[str, dict[str, str], int]:
    """RFC 7616 Digest (MD5, qop=auth) for alice:s3cret, checked like a server would."""
    realm, nonce = "digest-realm", "dcd98b7102dd2f0e8b11d0f600bfb0c093"
    given = query["_authorization"]
    if given.startswith("Digest "):
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', given[7:]))
        ha1 = hashlib.md5(f"alice:{realm}:s3cret".encode()).hexdigest()
        ha2 = hashlib.md5(f"GET:{fields.get('uri', '')}".encode()).hexdigest()
        parts = [ha1, nonce, fields.get("nc", ""), fields.get("cnonce", ""), "auth", ha2]
        if fields.get("uri") == path and fields.get("response") == hashlib.md5(":".join(parts).encode()).hexdigest():
            return "<!doctype html><body style='margin:0;background:#00ffff'>in</body>", {}, 200
    challenge = f'Digest realm="{realm}", qop="auth", nonce="{nonce}", algorithm=MD5'
    return "no", {"WWW-Authenticate": challenge}, 401


def test_http_auth_answers_a_digest_challenge_too(local_service, pages):
    pages.routes["/digest"] = lambda q: _digest(q, "/digest")
    query = {"url": pages.base + "/digest", "width": 100, "height": 80, "http_auth": "alice:s3cret"}
    shot = requests.get(f"{local_service.url}/create_snap", params=query, timeout=60)
    assert shot.status_code == 200 and shot.headers["X-Snapshot-Http-Status"] == "200", shot.text
    assert open_png(shot.content).getpixel((50, 40)) == (0, 255, 255)
    wrong = requests.get(f"{local_service.url}/create_snap", params={**query, "http_auth": "alice:wrong"}, timeout=60)
    assert wrong.status_code == 502 or wrong.headers.get("X-Snapshot-Http-Status") == "401", wrong.text
