"""The published API end to end, over HTTP, against the real service process on real browsers.

Both deployments are exercised: the embedded default (local Chromium, local files) and the Grid with
S3 (SeaweedFS).  Target pages come from the ``pages`` server on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.servers import free_port
from tests.support import LOOPBACK, open_png

pytestmark = pytest.mark.integration

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
SIZES = [(1000, 1000), (1920, 300), (300, 2000), (40, 30)]


@pytest.fixture(params=["local", "grid"])
def service(request):
    return request.getfixturevalue(f"{request.param}_service")


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "error"
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]


def assert_quadrants(png: bytes, width: int, height: int) -> None:
    image = open_png(png)
    assert image.size == (width, height)
    # the four corners and the four quadrant centres: the PNG is exactly the page's viewport
    assert image.getpixel((0, 0)) == RED
    assert image.getpixel((width - 1, 0)) == GREEN
    assert image.getpixel((0, height - 1)) == BLUE
    assert image.getpixel((width - 1, height - 1)) == YELLOW
    assert image.getpixel((width // 4, height // 4)) == RED
    assert image.getpixel((3 * width // 4, 3 * height // 4)) == YELLOW


# ------------------------------------------------------------------------------------------ GET


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["square", "wide", "tall", "small"])
def test_get_returns_png_of_exactly_the_requested_viewport(snap, service, pages, width, height):
    response = snap(service, width=width, height=height)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/png"
    assert_quadrants(response.content, width, height)


def test_get_shows_the_page_content(snap, service, pages):
    for color, rgb in [("123456", (0x12, 0x34, 0x56)), ("fedcba", (0xFE, 0xDC, 0xBA))]:
        response = snap(service, f"/color/{color}", 200, 100)
        image = open_png(response.content)
        assert image.getpixel((100, 50)) == rgb


def test_grid_captures_run_on_the_grid_and_localmode_runs_locally(snap, grid_service, grid, pages):
    assert snap(grid_service).headers["X-Snapshot-Backend"] == "grid"
    local = snap(grid_service, localmode="true")
    assert local.status_code == 200
    assert local.headers["X-Snapshot-Backend"] == "local"
    assert_quadrants(local.content, 1000, 1000)


def test_embedded_default_captures_locally_whatever_localmode_says(snap, local_service, pages):
    for mode in ("true", "false"):
        response = snap(local_service, localmode=mode)
        assert response.headers["X-Snapshot-Backend"] == "local"


def test_concurrent_captures_each_get_their_own_page(snap, service, pages):
    colors = ["ff0000", "00ff00", "0000ff", "ffff00", "00ffff", "ff00ff"]

    def one(color):
        return color, snap(service, f"/color/{color}", 120, 80)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, colors))
    for color, response in results:
        assert response.status_code == 200
        assert open_png(response.content).getpixel((60, 40)) == tuple(bytes.fromhex(color))


# ----------------------------------------------------------------------------------------- POST


def _check_stored(file_url: str, width: int, height: int) -> None:
    stored = requests.get(file_url, timeout=10)
    assert stored.status_code == 200
    assert stored.headers["Content-Type"] == "image/png"
    assert_quadrants(stored.content, width, height)


def test_post_multipart_stores_in_s3_and_file_url_serves_it(grid_service, s3, pages):
    form = {"url": pages.base + "/quadrants", "width": "640", "height": "480", "localmode": "false"}
    response = requests.post(f"{grid_service.url}/create_snap", files={k: (None, v) for k, v in form.items()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    assert set(body) == {"status", "file_url"}
    assert body["file_url"].startswith(f"{s3.endpoint}/{s3.bucket}/")
    key = body["file_url"].split(f"/{s3.bucket}/", 1)[1].split("?", 1)[0]
    head = s3.client().head_object(Bucket=s3.bucket, Key=key)
    assert head["ContentType"] == "image/png"
    _check_stored(body["file_url"], 640, 480)


def test_post_stores_locally_in_the_embedded_default(local_service, pages):
    form = {"url": pages.base + "/quadrants", "width": "300", "height": "200"}
    response = requests.post(f"{local_service.url}/create_snap", files={k: (None, v) for k, v in form.items()})
    assert response.status_code == 200, response.text
    file_url = response.json()["file_url"]
    assert file_url.startswith(f"{local_service.url}/files/")
    _check_stored(file_url, 300, 200)


@pytest.mark.parametrize("how", ["urlencoded", "query"])
def test_post_accepts_urlencoded_bodies_and_query_parameters(service, pages, how):
    params = {"url": pages.base + "/quadrants", "width": "200", "height": "150", "localmode": "false"}
    if how == "urlencoded":
        response = requests.post(f"{service.url}/create_snap", data=params)
    else:
        response = requests.post(f"{service.url}/create_snap", params=params)
    assert response.status_code == 200, response.text
    _check_stored(response.json()["file_url"], 200, 150)


def test_published_curl_example_verbatim(service, pages):
    result = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--request",
            "POST",
            "--url",
            f"{service.url}/create_snap?=,",
            "--header",
            "content-type: multipart/form-data",
            "--form",
            f"url={pages.base}/quadrants",
            "--form",
            "width=1000",
            "--form",
            "height=1000",
            "--form",
            "localmode=false",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body = json.loads(result.stdout)
    assert body["status"] == "success"
    _check_stored(body["file_url"], 1000, 1000)


def test_published_get_example_with_curl(service, pages):
    result = subprocess.run(
        ["curl", "--silent", "--fail", f"{service.url}/create_snap?url={pages.base}/quadrants&width=1000&height=1000"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert_quadrants(result.stdout, 1000, 1000)


def test_public_url_template_builds_file_url(start, grid, s3, pages):
    service = start(
        {
            "SNAPSHOT_GRID_URL": grid.url,
            "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
            "SNAPSHOT_POOL_SIZE": "1",
            "SNAPSHOT_S3_PREFIX": "public/",
            "SNAPSHOT_S3_PUBLIC_URL_TEMPLATE": s3.endpoint + "/{bucket}/{key}",
            **s3.service_env(),
        }
    )
    response = requests.post(
        f"{service.url}/create_snap", data={"url": pages.base + "/quadrants", "width": 64, "height": 48}
    )
    file_url = response.json()["file_url"]
    assert file_url.startswith(f"{s3.endpoint}/{s3.bucket}/public/") and "?" not in file_url
    key = file_url.split(f"/{s3.bucket}/", 1)[1]
    obj = s3.client().get_object(Bucket=s3.bucket, Key=key)
    assert open_png(obj["Body"].read()).size == (64, 48)


# --------------------------------------------------------------------------------------- errors

BAD_PARAMS = [
    ({"url": None}, "missing_url"),
    ({"url": ""}, "missing_url"),
    ({"url": "   "}, "missing_url"),
    ({"url": "not a url"}, "invalid_url"),
    ({"url": "http://"}, "invalid_url"),
    ({"url": "ftp://example.com/"}, "invalid_scheme"),
    ({"url": "javascript:alert(1)"}, "invalid_scheme"),
    ({"url": "file:///etc/passwd"}, "invalid_scheme"),
    ({"url": "http://exa mple.com/"}, "invalid_url"),
    ({"url": "http://example.com:99999/"}, "invalid_url"),
    ({"width": "0"}, "invalid_width"),
    ({"width": "-5"}, "invalid_width"),
    ({"width": "abc"}, "invalid_width"),
    ({"width": "10.5"}, "invalid_width"),
    ({"width": "1e3"}, "invalid_width"),
    ({"width": ""}, "invalid_width"),
    ({"width": "16385"}, "invalid_width"),
    ({"height": "99999999999999999999"}, "invalid_height"),
    ({"width": "16384", "height": "16384"}, "invalid_size"),
    ({"localmode": "maybe"}, "invalid_localmode"),
]


@pytest.mark.parametrize(("override", "code"), BAD_PARAMS, ids=[c + str(i) for i, (_, c) in enumerate(BAD_PARAMS)])
def test_bad_parameters_get_400_json(local_service, pages, override, code):
    params = {"url": pages.base + "/quadrants", "width": "100", "height": "100", **override}
    params = {k: v for k, v in params.items() if v is not None}
    for method in ("GET", "POST"):
        response = requests.request(method, f"{local_service.url}/create_snap", params=params, timeout=30)
        assert_error(response, 400, code)


def test_missing_dimensions_get_400(local_service, pages):
    response = requests.get(f"{local_service.url}/create_snap", params={"url": pages.base + "/quadrants"})
    assert_error(response, 400, "invalid_width")


SPELLINGS_OF_INTERNAL = [
    "http://127.0.0.1/",
    "HTTP://127.0.0.1:80/",
    "http://127.1/",
    "http://0x7f000001/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://2130706433/",
    "http://017700000001/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://%6c%6f%63%61%6c%68%6f%73%74/",
    "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://no-such-host.invalid/",
    "https://127.0.0.1:8443/",
]


def test_every_spelling_of_an_internal_address_is_refused(start):
    service = start({})  # no SNAPSHOT_ALLOW_NETWORKS: nothing private is reachable
    for url in SPELLINGS_OF_INTERNAL:
        response = requests.get(f"{service.url}/create_snap", params={"url": url, "width": 10, "height": 10})
        assert_error(response, 403, "blocked")
    for url in [
        "http://user@127.0.0.1/",
        "http://127.0.0.1\\@example.com/",
        "http://127.0.0.1 /",
        "http://[::1%25lo]/",
    ]:
        response = requests.get(f"{service.url}/create_snap", params={"url": url, "width": 10, "height": 10})
        assert_error(response, 400, "invalid_url")


@pytest.mark.parametrize(
    "make_url",
    [
        lambda pages: f"http://127.0.0.1:{free_port()}/",  # nothing listens there
        lambda pages: pages.base.replace("http://", "https://") + "/quadrants",  # TLS to a plain HTTP server
    ],
    ids=["refused", "tls"],
)
def test_unreachable_targets_get_502_not_a_picture_of_an_error_page(service, pages, make_url):
    response = requests.get(f"{service.url}/create_snap", params={"url": make_url(pages), "width": 100, "height": 100})
    assert_error(response, 502, "unreachable")


def test_unresolvable_names_get_403_like_private_addresses(service):
    # one answer for "does not exist" and "exists but is internal": no probing of internal names
    response = requests.get(
        f"{service.url}/create_snap", params={"url": "http://no-such-host.invalid/", "width": 10, "height": 10}
    )
    assert_error(response, 403, "blocked")


def test_capture_past_its_deadline_gets_504_in_time(snap, start, pages):
    service = start(
        {"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_CAPTURE_TIMEOUT": "3", "SNAPSHOT_LOCAL_POOL_SIZE": "1"}
    )
    started = time.monotonic()
    response = snap(service, "/slow?s=8", 100, 100)
    elapsed = time.monotonic() - started
    assert_error(response, 504, "timeout")
    assert elapsed < 3 + 2.5, f"the 504 came after {elapsed:.1f}s; the deadline is 3s"
    # the session that timed out was recycled; the next capture works
    assert snap(service, width=50, height=50).status_code == 200


def test_grid_unavailable_gets_503_with_retry_after_and_readyz_names_it(snap, start, pages):
    service = start(
        {
            "SNAPSHOT_GRID_URL": f"http://127.0.0.1:{free_port()}",
            "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
            "SNAPSHOT_SESSION_TIMEOUT": "3",
        },
        wait_ready=False,
    )
    response = snap(service, width=50, height=50)
    assert_error(response, 503, "backend_unavailable")
    assert int(response.headers["Retry-After"]) > 0
    ready = requests.get(f"{service.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["grid"].startswith("failed")
    assert requests.get(f"{service.url}/healthz").status_code == 200


def test_full_queue_answers_429_at_once(snap, start, pages):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_QUEUE_SIZE": "0"})
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(snap, service, "/slow?s=3", 50, 50)
        time.sleep(1.0)
        started = time.monotonic()
        response = snap(service, width=50, height=50)
        assert time.monotonic() - started < 1.0
        assert_error(response, 429, "overloaded")
        assert "Retry-After" in response.headers
        assert slow.result().status_code == 200


def test_localmode_can_be_refused(snap, start, grid, pages):
    service = start(
        {
            "SNAPSHOT_GRID_URL": grid.url,
            "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
            "SNAPSHOT_POOL_SIZE": "1",
            "SNAPSHOT_ALLOW_LOCALMODE": "false",
        }
    )
    assert_error(snap(service, localmode="true"), 403, "localmode_refused")
    assert snap(service, localmode="false").status_code == 200


MALFORMED = [
    ({"Content-Type": "multipart/form-data"}, b"garbage without a boundary", "malformed_body"),
    ({"Content-Type": "multipart/form-data; boundary=xyz"}, b"--abc\r\nnot the boundary\r\n", "malformed_body"),
    ({"Content-Type": "application/json"}, b'{"url": "http://exa', "malformed_body"),
    ({"Content-Type": "application/json"}, b'["http://example.com"]', "malformed_body"),
    ({"Content-Type": "text/plain"}, b"url=http://example.com", "unsupported_content_type"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"url=%ff%fe&width=1&height=1", "invalid_request"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"\xff\xfe\x00garbage", "invalid_options"),
]


@pytest.mark.parametrize(("headers", "body", "code"), MALFORMED)
def test_malformed_bodies_get_400_json(local_service, headers, body, code):
    response = requests.post(f"{local_service.url}/create_snap", headers=headers, data=body)
    assert_error(response, 400, code)


def test_odd_encodings_in_the_query_get_400(local_service):
    for query in [
        "url=%ff%fe&width=10&height=10",
        "url=http://example.com/&width=%00&height=10",
        "url=http%3A%2F%2F%E2%28%A1&width=1&height=1",
    ]:
        response = requests.get(f"{local_service.url}/create_snap?{query}")
        assert response.status_code == 400, (query, response.text)
        assert response.json()["status"] == "error"


def test_unknown_paths_and_methods_get_json_errors(local_service):
    assert_error(requests.get(f"{local_service.url}/nope"), 404, "not_found")
    assert_error(requests.put(f"{local_service.url}/create_snap"), 405, "method_not_allowed")
    assert_error(requests.get(f"{local_service.url}/files/does-not-exist.png"), 403, "forbidden")  # unsigned


def test_health_endpoints(service):
    assert requests.get(f"{service.url}/healthz").json() == {"status": "ok"}
    ready = requests.get(f"{service.url}/readyz")
    assert ready.status_code == 200
    assert all(v == "ok" for v in ready.json()["checks"].values())


def test_request_id_is_echoed(local_service):
    response = requests.get(f"{local_service.url}/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert len(requests.get(f"{local_service.url}/healthz").headers["X-Request-ID"]) == 32
