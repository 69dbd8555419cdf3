"""API keys and signed GET URLs."""

from __future__ import annotations

import subprocess
import sys
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from tests.support import LOOPBACK, open_png


@pytest.mark.integration
def test_the_service_enforces_keys_but_leaves_probes_open(start, pages):
    service = start(
        {"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_API_KEYS": "s3cret-key", "SNAPSHOT_LOCAL_POOL_SIZE": "1"}
    )
    params = {"url": pages.base + "/color/ff0000", "width": "30", "height": "20"}
    refused = requests.get(f"{service.url}/create_snap", params=params)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert (
        requests.get(f"{service.url}/create_snap", params=params, headers={"X-API-Key": "s3cret-key"}).status_code
        == 200
    )
    # a signed URL made by the CLI, as an <img src> would use it
    path = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.auth",
            "--key",
            "s3cret-key",
            "--url",
            params["url"],
            "--width",
            "30",
            "--height",
            "20",
            "--ttl",
            "60",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    signed = requests.get(service.url + path)
    assert signed.status_code == 200 and open_png(signed.content).getpixel((15, 10)) == (255, 0, 0)
    query = dict(parse_qsl(urlsplit(path).query))
    query["expires"] = str(int(time.time()) - 1)
    assert requests.get(f"{service.url}/create_snap", params=query).status_code == 401
    for probe in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert requests.get(service.url + probe).status_code == 200
    assert "s3cret-key" not in service.proc.log_path.read_text()
