"""What several test modules share: addresses, readers of what the service answers, and the charts'
renderer.  Fixtures are in ``conftest.py``; real servers in ``servers.py``; the fake session in
``fakes.py``; the in-process app in ``inprocess.py``."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.0/8"
PAGE = "http://127.0.0.1:9/page"  # in-process tests: the fake session never loads it
SERVICE_CHART = ROOT / "deploy" / "helm" / "snapshot"
GRID_CHART = ROOT / "deploy" / "grid" / "selenium-grid"


class Clock:
    """A wall clock a test moves (``advance``) instead of sleeping through a TTL."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


# ---------------------------------------------------------------- the in-process app (``app`` fixture)


def params(**extra: object) -> dict[str, object]:
    return {"url": PAGE, "width": 40, "height": 30, **extra}


def wait_for_job(service, job_id: str, until=("succeeded", "failed"), timeout: float = 20.0, headers=None) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = json.loads(service.fetch(f"/jobs/{job_id}", headers=headers).body)
        if job["status"] in until and job.get("webhook", {}).get("state") != "pending":
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job}")


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.code == status, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.body)
    assert body["status"] == "error" and body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


def post_json(service, path: str, body: bytes | str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """An in-process POST of a JSON body."""
    return service.fetch(
        path, method="POST", body=body, headers={"Content-Type": "application/json", **(headers or {})}
    )


def metric(service, name: str, **labels: str) -> float | None:  # type: ignore[no-untyped-def]
    return service.components.metrics.registry.get_sample_value(name, labels)


# ---------------------------------------------------------------- the charts, rendered by the Helm engine


def scenarios(chart: Path) -> list[tuple[str, dict]]:
    return [(p.stem, yaml.safe_load(p.read_text()) or {}) for p in sorted((chart / "ci").glob("*-values.yaml"))]


def render(chart: Path, values: dict, name: str) -> dict[str, list[dict]]:
    from helm_python.chart import Chart

    out = Chart.load(str(chart)).render(values=values, name=name, namespace="snapshot")
    return {
        path: [d for d in yaml.safe_load_all(text) if d]
        for path, text in out.items()
        if not path.endswith("NOTES.txt") and text.strip()
    }


def docs(chart: Path, values: dict, name: str) -> list[dict]:
    return [d for group in render(chart, values, name).values() for d in group]


def by_kind(manifests: list[dict], kind: str) -> list[dict]:
    return [d for d in manifests if d["kind"] == kind]
