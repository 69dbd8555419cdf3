"""Parameter validation of the published API."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.config import Settings
from service.errors import InvalidRequest
from service.params import parse_bool, parse_capture_request

SETTINGS = Settings(max_width=2000, max_height=3000, max_pixels=2_000_000)


def request(**params):
    base = {"url": "http://example.com/", "width": "100", "height": "50"}
    base.update(params)
    return parse_capture_request({k: [v] for k, v in base.items() if v is not None}, SETTINGS)


def test_a_valid_request():
    r = request(localmode="true")
    assert (r.url, r.width, r.height, r.localmode) == ("http://example.com/", 100, 50, True)


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", "on"])
def test_localmode_true_spellings(value):
    assert parse_bool("localmode", value) is True


@pytest.mark.parametrize("value", [None, "", "false", "0", "no", "off", "False"])
def test_localmode_false_spellings(value):
    assert parse_bool("localmode", value) is False


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"width": "0"}, "invalid_width"),
        ({"width": "2001"}, "invalid_width"),
        ({"height": "3001"}, "invalid_height"),
        ({"width": "+5"}, "invalid_width"),
        ({"width": "٣"}, "invalid_width"),  # a non-ASCII digit
        ({"width": "2000", "height": "1001"}, "invalid_size"),
        ({"localmode": "perhaps"}, "invalid_localmode"),
    ],
)
def test_limits_and_codes(params, code):
    with pytest.raises(InvalidRequest) as info:
        request(**params)
    assert info.value.code == code


def test_limits_are_inclusive():
    assert request(width="2000", height="1000").width == 2000


@given(st.dictionaries(st.sampled_from(["url", "width", "height", "localmode"]), st.text(max_size=40)))
def test_any_parameters_either_parse_or_raise_invalid_request(params):
    try:
        r = parse_capture_request({k: [v] for k, v in params.items()}, SETTINGS)
    except InvalidRequest as exc:
        assert exc.status == 400
        return
    assert 1 <= r.width <= 2000 and 1 <= r.height <= 3000 and r.width * r.height <= 2_000_000


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        # every pixel bound counts device pixels: 1000 x 1000 is allowed, at scale 2 it is 4 million
        ({"width": "1000", "height": "1000", "device_scale_factor": "2"}, "device_scale_factor"),
        (
            {"clip_x": "0", "clip_y": "0", "clip_width": "1000", "clip_height": "1000", "device_scale_factor": "2"},
            "clip_width",
        ),  # fmt: skip
        ({"clip_x": "0", "clip_y": "0", "clip_width": "2000", "clip_height": "1001"}, "clip_width"),
        # what Chrome would refuse after the page was loaded, refused before
        ({"cookies": "a=b; SameSite=None"}, "cookies"),
    ],
)
def test_options_bounded_as_the_browser_would_be_are_refused_up_front(params, parameter):
    with pytest.raises(InvalidRequest) as refused:
        request(**params)
    assert refused.value.code == "invalid_options"
    assert [d["parameter"] for d in refused.value.details or []] == [parameter]


def test_pdf_margins_must_leave_room_on_the_paper():
    from service.options import Endpoint

    def pdf(**params: str):
        query = {"url": ["http://example.com/"], **{k: [v] for k, v in params.items()}}
        return parse_capture_request(query, Settings(), Endpoint.PDF)

    pdf(pdf_margin="4in", pdf_paper_format="letter")
    for margin, paper in (("9999in", "a4"), ("4.25in", "letter"), ("150mm", "a4")):
        with pytest.raises(InvalidRequest, match="leave no room"):
            pdf(pdf_margin=margin, pdf_paper_format=paper)


def test_a_same_site_none_cookie_that_is_secure_is_fine():
    assert request(cookies="a=b; SameSite=None; Secure").options.cookies == ("a=b; SameSite=None; Secure",)
    assert request(width="1000", height="1000").width == 1000
