"""The option model (``service/options.py``) in-process: parsing from a query, a form or JSON,
validation that reports every problem, contradictions refused, and the OpenAPI document built from it.
The options' effect on real pages: ``test_options.py``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.config import Settings
from service.errors import InvalidRequest
from service.openapi import document
from service.option_checks import OptionProblems, parse_options
from service.options import FIELDS, CaptureOptions, Endpoint, kind, param, to_json, to_params
from service.params import json_params, parse_capture_request

SETTINGS = Settings(allow_scripts=True)
OPENAPI_DEFAULT = document(Settings())  # the document with the default settings
HOST = "example.com"


def text_params(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def parse(params: dict[str, Any], endpoint: Endpoint = Endpoint.SNAP) -> CaptureOptions:
    return parse_options({k: v if isinstance(v, list) else [v] for k, v in params.items()}, SETTINGS, endpoint, HOST)


def problems(params: dict[str, Any], endpoint: Endpoint = Endpoint.SNAP) -> dict[str, str]:
    with pytest.raises(OptionProblems) as info:
        parse(params, endpoint)
    return dict(info.value.problems)


_SELECTOR = st.sampled_from(["#a", ".b", "main > p", "[data-x='1']"])


def _value(f: Any) -> st.SearchStrategy[Any]:
    meta, k = f.metadata, kind(f)
    if meta["choices"]:
        choice = st.sampled_from(meta["choices"])
        return st.lists(choice, max_size=3, unique=True).map(tuple) if k == "list" else choice
    if k == "bool":
        return st.booleans()
    if k == "int":
        return st.integers(meta["minimum"] or 0, meta["maximum"] or 5000)
    if k == "float":
        return st.floats(meta["minimum"] or 0, meta["maximum"] or 5000, allow_nan=False)
    if k == "list":
        return st.lists(_SELECTOR, max_size=3).map(tuple)
    return _SELECTOR


@st.composite
def option_sets(draw: st.DrawFn, endpoint: Endpoint = Endpoint.SNAP) -> dict[str, Any]:
    fields = [f for f in FIELDS if endpoint in f.metadata["endpoints"]]
    chosen = draw(st.lists(st.sampled_from(fields), max_size=8, unique_by=param))
    return {param(f): draw(_value(f)) for f in chosen}


def _valid(values: dict[str, Any]) -> CaptureOptions | None:
    values = {k: v for k, v in values.items() if k not in ("headers", "cookies", "user_agent", "pdf_margin")}
    try:
        return parse(
            {
                k: [str(i) for i in v] if isinstance(v, tuple) else [str(v).lower() if isinstance(v, bool) else str(v)]
                for k, v in values.items()
            }  # fmt: skip
        )
    except OptionProblems:
        return None


@settings(max_examples=500, suppress_health_check=[HealthCheck.filter_too_much], deadline=None)
@given(option_sets())
def test_query_json_and_model_round_trip(values):
    options = _valid(values)
    if options is None:
        return
    assert parse(text_params(to_params(options))) == options
    from_json, json_problems = json_params(to_json(options), Endpoint.SNAP)
    assert json_problems == []
    assert parse(from_json) == options


@given(option_sets(), _SELECTOR)
def test_full_page_with_a_selector_is_always_refused(values, selector):
    values |= {"full_page": "true", "selector": selector}
    with pytest.raises(OptionProblems) as info:
        parse({k: [str(i) for i in v] if isinstance(v, tuple) else str(v).lower() for k, v in values.items()})
    assert "selector" in dict(info.value.problems)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"quality": "50"}, "quality"),  # png
        ({"format": "jpeg", "omit_background": "true"}, "omit_background"),
        ({"full_page": "true", "selector": "#a"}, "selector"),
        ({"clip_x": "1", "clip_y": "1"}, "clip_x"),
        ({"full_page_max_height": "100"}, "full_page_max_height"),
        ({"full_page_scroll": "false"}, "full_page_scroll"),
        ({"selector_padding": "4"}, "selector_padding"),
        ({"headers_scope": "all"}, "headers_scope"),
        ({"full_page": "true", "full_page_max_height": "99999999"}, "full_page_max_height"),
        ({"timeout": "999999"}, "timeout"),
        ({"headers": "Host: evil"}, "headers"),
        ({"headers": "X-A: a\nb"}, "headers"),
        ({"headers": "no colon"}, "headers"),
        ({"cookies": "a=b; Domain=other.org"}, "cookies"),
        ({"cookies": "a=b; SameSite=Sometimes"}, "cookies"),
        ({"hide_selectors": [f".x{i}" for i in range(40)]}, "hide_selectors"),
        ({"styles": "x" * 20000}, "styles"),
        ({"pdf_margin": "1 league"}, "pdf_margin"),
        ({"format": "gif"}, "format"),
        ({"device_scale_factor": "4"}, "device_scale_factor"),
        ({"delay": "1.5"}, "delay"),
        ({"dark_mode": "maybe"}, "dark_mode"),
        ({"click": ["a", "b"]}, "click"),
        ({"fullpage": "true"}, "fullpage"),  # a typo is not silently ignored
    ],
)
def test_bad_options_and_contradictions_are_refused_naming_the_parameter(params, parameter):
    endpoint = Endpoint.PDF if "pdf_margin" in params else Endpoint.SNAP
    assert parameter in problems(params, endpoint)


def test_every_problem_is_reported_at_once():
    found = problems({"quality": "500", "format": "gif", "nonsense": "1", "delay": "x"})
    assert set(found) == {"quality", "format", "nonsense", "delay"}


def test_options_belong_to_their_endpoint():
    assert "pdf_landscape" in problems({"pdf_landscape": "true"}, Endpoint.SNAP)
    assert "full_page" in problems({"full_page": "true"}, Endpoint.PDF)
    assert parse({"pdf_landscape": "true"}, Endpoint.PDF).pdf_landscape


def test_scripts_need_the_operator():
    refused = Settings(allow_scripts=False)
    with pytest.raises(OptionProblems) as info:
        parse_options({"scripts": ["1"]}, refused, Endpoint.SNAP, HOST)
    assert "SNAPSHOT_ALLOW_SCRIPTS" in dict(info.value.problems)["scripts"]


def test_a_cookie_domain_must_contain_the_target_host():
    assert parse({"cookies": "a=b; Domain=.example.com; Secure; HttpOnly; SameSite=Lax"}).cookies
    assert "cookies" in problems({"cookies": "a=b; Domain=ample.com"})


def test_json_bodies_are_typed():
    params, found = json_params({"full_page": "true", "width": "100", "hide_selectors": [1], "bogus": 1}, Endpoint.SNAP)
    assert {name for name, _ in found} == {"full_page", "width", "hide_selectors", "bogus"}
    params, found = json_params({"full_page": True, "width": 100, "hide_selectors": [".a", ".b"]}, Endpoint.SNAP)
    assert found == [] and params == {"full_page": ["true"], "width": ["100"], "hide_selectors": [".a", ".b"]}


def test_the_published_parameters_keep_their_codes_and_options_make_it_invalid_options():
    base = {"url": ["http://example.com/"], "width": ["10"], "height": ["10"]}
    with pytest.raises(InvalidRequest) as info:
        parse_capture_request({**base, "width": ["0"], "height": ["x"]}, SETTINGS)
    assert info.value.code == "invalid_width" and len(info.value.details or []) == 2
    with pytest.raises(InvalidRequest) as info:
        parse_capture_request({**base, "width": ["0"], "quality": ["5"]}, SETTINGS)
    assert info.value.code == "invalid_options"
    assert {d["parameter"] for d in info.value.details or []} == {"width", "quality"}
    # the published POST example's `?=,` and a signed URL's parameters are not options
    assert parse_capture_request({**base, "": [","], "expires": ["1"], "signature": ["x"]}, SETTINGS).width == 10


def test_a_pdf_needs_only_a_url():
    request = parse_capture_request({"url": ["http://example.com/"]}, SETTINGS, Endpoint.PDF)
    assert (request.width, request.height, request.endpoint) == (1280, 800, Endpoint.PDF)


@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_the_openapi_document_lists_every_option_of_each_endpoint(endpoint):
    path = endpoint.path
    documented = {p["name"] for p in OPENAPI_DEFAULT["paths"][path]["get"]["parameters"]}
    options = {param(f) for f in FIELDS if endpoint in f.metadata["endpoints"]}
    assert options <= documented
    assert documented - options == {"url", "width", "height", "localmode", "expires", "signature"}
    body = OPENAPI_DEFAULT["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == options | {"url", "width", "height", "localmode"}
