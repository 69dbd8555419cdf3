"""A Grid behind basic auth (as deploy/grid installs it): the service authenticates on every channel."""

from __future__ import annotations

import pytest
import requests

from tests.servers import start_grid
from tests.support import LOOPBACK, open_png

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def auth_grid():
    grid = start_grid(nodes=1, max_sessions=1, auth=("snapshot", "s3cret-grid"))
    yield grid
    grid.stop()


def test_captures_work_with_the_grids_credentials(start, auth_grid, pages):
    service = start(
        {
            "SNAPSHOT_GRID_URL": auth_grid.url,
            "SNAPSHOT_GRID_USERNAME": "snapshot",
            "SNAPSHOT_GRID_PASSWORD": "s3cret-grid",
            "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
            "SNAPSHOT_POOL_SIZE": "1",
            "SNAPSHOT_ALLOW_LOCALMODE": "false",
        }
    )
    response = requests.get(
        f"{service.url}/create_snap", params={"url": pages.base + "/color/ff8800", "width": 40, "height": 30}
    )
    assert response.status_code == 200, response.text
    assert open_png(response.content).getpixel((20, 15)) == (255, 136, 0)
    assert requests.get(f"{service.url}/readyz").status_code == 200
    metrics = requests.get(f"{service.url}/metrics").text
    assert "s3cret" not in metrics


def test_without_credentials_the_grid_refuses_and_the_service_says_so(start, auth_grid, pages):
    service = start(
        {
            "SNAPSHOT_GRID_URL": auth_grid.url,
            "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
            "SNAPSHOT_POOL_SIZE": "1",
            "SNAPSHOT_ALLOW_LOCALMODE": "false",
        },
        wait_ready=False,
    )
    response = requests.get(
        f"{service.url}/create_snap", params={"url": pages.base + "/color/ff8800", "width": 40, "height": 30}
    )
    assert response.status_code == 503 and response.json()["error"] == "backend_unavailable"
    ready = requests.get(f"{service.url}/readyz")
    assert ready.status_code == 503 and "grid" in ready.json()["checks"]
