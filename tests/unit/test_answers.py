"""The API's JSON answers as typed models (``service/answers.py``): what the code answers and what the
OpenAPI document says are made from the same classes."""

from __future__ import annotations

from service.answers import Accepted, ErrorBody, ErrorDetail, JobView, Stored, error_of, schema, to_json
from service.config import Settings
from service.errors import InvalidRequest
from service.openapi import document

OPENAPI_DEFAULT = document(Settings())  # the document with the default settings


def test_optional_fields_are_left_out_and_nullable_ones_kept():
    assert to_json(Stored("https://s/x.png")) == {"file_url": "https://s/x.png", "status": "success"}
    job = to_json(JobView("a" * 32, "queued", "https://s/jobs/a", "2026-12-06T00:00:00Z"))
    assert job["started_at"] is None and "result" not in job and "error" not in job


def test_every_answer_has_what_its_schema_requires_and_nothing_it_does_not_describe():
    error = InvalidRequest("bad", code="invalid_options", details=[{"parameter": "x", "error": "e", "message": "m"}])
    job = JobView("b" * 32, "failed", "https://s/jobs/b", "2026-12-06T00:00:00Z", error=error_of(error.body()))
    for model, answer in [
        (Stored, to_json(Stored("u", final_url="f", http_status=200, cache="miss", request_id="r"))),
        (Accepted, to_json(Accepted("c" * 32, "https://s/jobs/c", external_id="e"))),
        (JobView, to_json(job)),
        (ErrorBody, error.body()),
    ]:
        described = schema(model)
        assert set(described.get("required", [])) <= set(answer) <= set(described["properties"]), model.__name__
    assert to_json(job)["error"]["details"] == [{"parameter": "x", "error": "e", "message": "m"}]


def test_the_document_uses_the_models():
    assert OPENAPI_DEFAULT["components"]["schemas"]["Error"] == schema(ErrorBody)
    post = OPENAPI_DEFAULT["paths"]["/create_snap"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert post == schema(Stored)
    assert schema(ErrorDetail)["properties"]["error"]["description"] == "This problem's own code."
