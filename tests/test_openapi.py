"""The OpenAPI document, and schemathesis against it: no 500, no answer that breaks the schema."""

from __future__ import annotations

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

CHECKS = [
    not_a_server_error,
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
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/jobs/{id}",
    }
    responses = document["paths"]["/create_snap"]["get"]["responses"]
    assert {"200", "400", "401", "403", "413", "429", "502", "503", "504"} <= set(responses)
