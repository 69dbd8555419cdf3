"""Target URL parsing: every spelling of a host canonicalises to the host the browser would use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import InvalidRequest
from service.urls import canonical_host, parse_target_url


def parse(url: str):
    return parse_target_url(url, max_length=2048)


@pytest.mark.parametrize(
    ("url", "host", "canonical"),
    [
        ("http://example.com", "example.com", "http://example.com/"),
        ("HTTP://EXAMPLE.COM./a?b=c#d", "example.com", "http://example.com/a?b=c#d"),
        ("https://example.com:443/x", "example.com", "https://example.com/x"),
        ("http://example.com:8080/x", "example.com", "http://example.com:8080/x"),
        ("  http://example.com/  ", "example.com", "http://example.com/"),
        ("http://2130706433/", "127.0.0.1", "http://127.0.0.1/"),
        ("http://0x7f.1/", "127.0.0.1", "http://127.0.0.1/"),
        ("http://0177.0.0.1/", "127.0.0.1", "http://127.0.0.1/"),
        ("http://127.1/", "127.0.0.1", "http://127.0.0.1/"),
        ("http://0xA9FEA9FE/", "169.254.169.254", "http://169.254.169.254/"),
        ("http://%31%32%37.0.0.1/", "127.0.0.1", "http://127.0.0.1/"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1", "http://[::ffff:7f00:1]/"),
        ("http://[0:0:0:0:0:0:0:1]:8080/", "::1", "http://[::1]:8080/"),
        ("http://bücher.example/", "xn--bcher-kva.example", "http://xn--bcher-kva.example/"),
        ("http://0x/", "0.0.0.0", "http://0.0.0.0/"),
    ],
)
def test_hosts_are_canonicalised_like_a_browser_does(url, host, canonical):
    target = parse(url)
    assert target.host == host
    assert target.url == canonical


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (None, "missing_url"),
        ("", "missing_url"),
        ("ftp://example.com/", "invalid_scheme"),
        ("javascript:alert(1)", "invalid_scheme"),
        ("data:text/html,hi", "invalid_scheme"),
        ("example.com", "invalid_scheme"),
        ("http:example.com", "invalid_url"),
        ("http://user:pass@example.com/", "invalid_url"),
        ("http://example.com\\@evil.com/", "invalid_url"),
        ("http://exa mple.com/", "invalid_url"),
        ("http://exa\tmple.com/", "invalid_url"),
        ("http://256.0.0.1/", "invalid_url"),
        ("http://1.2.3.4.5/", "invalid_url"),
        ("http://[::1/", "invalid_url"),
        ("http://[fe80::1%25eth0]/", "invalid_url"),
        ("http://example.com:0/", "invalid_url"),
        ("http://example.com:abc/", "invalid_url"),
        ("http://a..b/", "invalid_url"),
        ("http://" + "a" * 3000 + ".com/", "invalid_url"),
    ],
)
def test_bad_urls_are_refused_with_a_code(url, code):
    with pytest.raises(InvalidRequest) as info:
        parse(url)
    assert info.value.code == code


def test_the_configured_length_limit_applies():
    parse_target_url("http://example.com/" + "a" * 50, max_length=100)
    with pytest.raises(InvalidRequest):
        parse_target_url("http://example.com/" + "a" * 100, max_length=100)


@given(st.text(max_size=200))
def test_any_text_either_parses_or_raises_invalid_request(text):
    try:
        target = parse(text)
    except InvalidRequest:
        return
    assert target.scheme in {"http", "https"}
    assert target.url.startswith(target.scheme + "://")
    # the canonical URL is a fixed point: parsing it again gives the same target
    assert parse(target.url) == target


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_integer_ipv4_spelling_gives_the_dotted_quad(number):
    import ipaddress

    dotted = str(ipaddress.IPv4Address(number))
    assert canonical_host(str(number)) == dotted
    assert canonical_host(hex(number)) == dotted
