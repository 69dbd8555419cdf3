"""What a capture changes about the page's requests (``service/browsers/network.py``): pure logic."""

from __future__ import annotations

import re
import threading

from hypothesis import given
from hypothesis import strategies as st

from service.browsers.network import Wildcard


def reference(pattern: str, url: str) -> bool:
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), url, re.DOTALL) is not None


@given(st.text("ab*/:", max_size=8), st.text("ab/:", max_size=12))
def test_a_wildcard_matches_exactly_what_a_star_for_anything_means(pattern, url):
    assert Wildcard.of(pattern).fullmatch(url) == reference(pattern, url)


def test_typical_patterns():
    ads = Wildcard.of("*://ads.example.com/*")
    assert ads.fullmatch("https://ads.example.com/x.js")
    assert not ads.fullmatch("https://example.com/ads.example.com")
    assert Wildcard.of("https://a.test/").fullmatch("https://a.test/")
    assert not Wildcard.of("https://a.test/").fullmatch("https://a.test/x")
    assert Wildcard.of("*.png").fullmatch("https://a.test/x.png") and not Wildcard.of("*.png").fullmatch("x.png?")
    assert not Wildcard.of("ab*ba").fullmatch("aba")  # the parts may not overlap


def test_a_hostile_pattern_is_matched_in_linear_time():
    """``*a*a*...*b`` against a long run of ``a``: a backtracking matcher takes longer than the age of the
    universe; this one scans the URL once per part."""
    pattern = Wildcard.of("*" + "a*" * 40 + "b")
    url = "https://x.test/?" + "a" * 200_000
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(pattern.fullmatch(url)), daemon=True)
    worker.start()
    worker.join(10)
    assert results == [False]


def test_headers_go_to_the_target_origin_only_when_a_frame_of_that_origin_asks():
    from service.browsers.network import RequestRules
    from service.config import Settings
    from service.params import parse_capture_request

    request = parse_capture_request(
        {"url": ["https://a.test/page"], "width": ["10"], "height": ["10"], "headers": ["X-Key: k"]}, Settings()
    )
    rules = RequestRules.of(request)
    assert rules is not None

    def sent(url: str, initiator: str | None) -> bool:
        _, params, _ = rules.answer({"requestId": "1", "request": {"url": url, "headers": {}}}, initiator)
        return {"name": "X-Key", "value": "k"} in params.get("headers", [])

    assert sent("https://a.test/api", "https://a.test")
    assert not sent("https://a.test/api", "https://evil.test")  # a cross-origin frame asks
    assert not sent("https://a.test/api", None)  # unknown, or a cross-site frame's process
    assert not sent("https://b.test/api", "https://a.test")  # another origin
