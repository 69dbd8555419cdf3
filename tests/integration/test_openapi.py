"""The OpenAPI document, and schemathesis against it: no 500, no answer that breaks the schema (the
documented 502/503/504 of a capture that ran are answers, not failures)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import (
    ROOT,
    open_png,
)


@schemathesis.check
def not_an_internal_error(ctx, response, case):  # type: ignore[no-untyped-def]
    """No 500, ever.  The 5xx the document gives for what lies outside the API - 502 a page that cannot be
    loaded, 503 no browser, 504 a capture past its deadline - are answers: with html and markdown bodies a
    generated request does make the browser work (a wait_for_selector that never matches is a 504)."""
    if response.status_code not in (502, 503, 504):
        return not_a_server_error(ctx, response, case)
    assert response.json()["error"] != "internal_error"
    return None


CHECKS = [
    not_an_internal_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    negative_data_rejection,
]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzzed_service(request):
    from tests.servers import start_service

    # Deny every network: generated URLs never make the browser or the resolver go anywhere.
    service = start_service(
        {
            "SNAPSHOT_DENY_NETWORKS": "0.0.0.0/0,::/0",
            "SNAPSHOT_CAPTURE_TIMEOUT": "5",
            "SNAPSHOT_LOCAL_POOL_SIZE": "1",
            "SNAPSHOT_CLIENT_MAX_IN_FLIGHT": "0",
        }
    )
    yield service
    service.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed_service):
    return schemathesis.openapi.from_url(f"{fuzzed_service.url}/openapi.json")


def test_no_input_yields_a_500_or_an_undocumented_answer(api_schema, fuzzed_service):
    """Generated requests (valid and invalid) against every operation; every answer is documented."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case):
            case.call_and_validate(checks=CHECKS)

        run()
    scrape = requests.get(f"{fuzzed_service.url}/metrics").text
    answered = sum(
        float(line.split()[-1]) for line in scrape.splitlines() if line.startswith("snapshot_http_requests_total{")
    )
    assert answered >= 50, f"only {answered} requests reached the service"


def test_the_document_describes_every_endpoint_and_error(fuzzed_service):
    document = requests.get(f"{fuzzed_service.url}/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/create_snap",
        "/create_pdf",
        "/create_content",
        "/devices",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/jobs/{id}",
        "/usage",
        "/monitors",
        "/monitors/{id}",
        "/monitors/{id}/run",
    }
    responses = document["paths"]["/create_snap"]["get"]["responses"]
    assert {"200", "400", "401", "403", "413", "429", "502", "503", "504"} <= set(responses)


def test_a_client_generated_from_the_served_spec_makes_the_basic_calls(local_service, pages, tmp_path):
    """What a new user does: generate a client with openapi-python-client from /openapi.json (and the
    configuration in docs/) and call the service with it: the image's bytes, a stored file, an async job
    and its status, an error."""
    (tmp_path / "openapi.json").write_bytes(requests.get(f"{local_service.url}/openapi.json", timeout=10).content)
    tool = Path(sys.executable).parent / "openapi-python-client"
    env = {**os.environ, "PATH": f"{tool.parent}:{os.environ['PATH']}"}  # it formats the code with ruff
    subprocess.run(
        [str(tool), "generate", "--path", str(tmp_path / "openapi.json"), "--meta", "none",
         "--config", str(ROOT / "docs" / "openapi-python-client.yaml"), "--output-path", str(tmp_path / "snapclient")],
        check=True, capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module("snapclient")
        snap_get = importlib.import_module("snapclient.api.default.get_create_snap")
        snap_post = importlib.import_module("snapclient.api.default.post_create_snap")
        job_get = importlib.import_module("snapclient.api.default.get_jobs_id")
        models = importlib.import_module("snapclient.models")
        with client_module.Client(base_url=local_service.url, timeout=httpx.Timeout(60)) as client:
            red = pages.base + "/color/ff0000"

            image = snap_get.sync(client=client, url_query=red, width=30, height=20)
            assert open_png(image.payload.read()).size == (30, 20)

            stored = snap_post.sync(client=client, body=models.PostCreateSnapJsonBody(url=red, width=30, height=20))
            assert stored.status == "success"
            assert open_png(requests.get(stored.file_url, timeout=10).content).getpixel((15, 10)) == (255, 0, 0)

            accepted = snap_get.sync(client=client, url_query=red, width=30, height=20, async_=True)
            deadline = time.monotonic() + 60
            while (job := job_get.sync(accepted.id, client=client)).status not in ("succeeded", "failed"):
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
            assert job.status == "succeeded" and requests.get(job.result.file_url, timeout=10).status_code == 200

            error = snap_get.sync(client=client, url_query="ftp://example.com/", width=30, height=20)
            assert isinstance(error, models.Error) and error.error == "invalid_scheme"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "snapclient" or m.startswith("snapclient.")]:
            del sys.modules[name]
