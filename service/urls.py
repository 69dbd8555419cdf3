"""Target URL parsing and canonicalisation.

The host the service checks must be the host the browser connects to, whatever the spelling.  So the
URL is parsed the way a browser does (WHATWG URL rules for http/https) and rebuilt in one canonical
form: lower-case scheme and host, percent-decoded and IDNA-encoded host, numeric IPv4 spellings
(``2130706433``, ``0x7f.1``, ``0177.0.0.1``) turned into dotted quads, IPv6 compressed, trailing dot
dropped, default port dropped.  The canonical URL is what the browser is asked to open.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from service.errors import InvalidRequest

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters a browser would strip or choke on; rejecting them keeps parsing unambiguous.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")
_FORBIDDEN_HOST = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")


@dataclass(frozen=True)
class TargetUrl:
    url: str  # canonical URL handed to the browser
    scheme: str
    host: str  # canonical host: a domain name, dotted IPv4 or bare IPv6
    port: int

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message, code="invalid_url")


def _parse_ipv4_number(part: str) -> int | None:
    """One WHATWG IPv4 part: decimal, 0x hex or 0-prefixed octal; None if not a number."""
    if part == "":
        return None
    base = 10
    if part[:2] in ("0x", "0X"):
        part, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, base = part[1:], 8
    if part == "":
        return 0
    digits = {10: "0123456789", 16: "0123456789abcdefABCDEF", 8: "01234567"}[base]
    if any(c not in digits for c in part):
        return None
    return int(part, base)


def _ends_in_number(host: str) -> bool:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    last = parts[-1]
    if last and all(c in "0123456789" for c in last):
        return True
    return _parse_ipv4_number(last) is not None and last[:2].lower() == "0x"


def _parse_ipv4(host: str) -> str:
    """The WHATWG IPv4 parser: returns the dotted quad or raises InvalidRequest."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    if len(parts) > 4:
        raise _bad("the host is not a valid IPv4 address")
    numbers = [_parse_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        raise _bad("the host is not a valid IPv4 address")
    nums = [n for n in numbers if n is not None]
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 256 ** (5 - len(nums)):
        raise _bad("the host is not a valid IPv4 address")
    value = nums[-1]
    for i, n in enumerate(nums[:-1]):
        value += n * 256 ** (3 - i)
    return str(ipaddress.IPv4Address(value))


def canonical_host(raw: str) -> str:
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise _bad("the host is not a valid IPv6 address")
        try:
            address = ipaddress.IPv6Address(raw[1:-1])
        except ValueError:
            raise _bad("the host is not a valid IPv6 address") from None
        if address.scope_id:
            raise _bad("IPv6 zone identifiers are not allowed")
        return address.compressed
    host = unquote(raw, errors="strict") if "%" in raw else raw
    if not host:
        raise _bad("the URL has no host")
    try:
        ascii_host = host.encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
    except UnicodeError:
        raise _bad("the host is not a valid domain name") from None
    if _FORBIDDEN_HOST.search(ascii_host) or ascii_host.startswith(".") or ".." in ascii_host:
        raise _bad("the host contains characters a domain name cannot have")
    if _ends_in_number(ascii_host):
        return _parse_ipv4(ascii_host)
    return ascii_host.rstrip(".")


def parse_target_url(raw: str | None, *, max_length: int) -> TargetUrl:
    if raw is None or not raw.strip():
        raise InvalidRequest("the url parameter is required", code="missing_url")
    value = raw.strip(" \t\r\n\f")
    if len(value) > max_length:
        raise _bad(f"the url is longer than {max_length} characters")
    if _FORBIDDEN.search(value):
        raise _bad("the url contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise _bad("the url is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidRequest("only http and https URLs can be captured", code="invalid_scheme")
    if not value[len(scheme) + 1 :].startswith("//"):
        raise _bad("the url must be absolute, like http://example.com/")
    netloc = parts.netloc
    if "@" in netloc:
        raise _bad("credentials in the url are not allowed")
    host_raw = netloc.rsplit(":", 1)[0] if port is not None or netloc.endswith(":") else netloc
    host = canonical_host(host_raw)
    port = port if port is not None else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise _bad("the url's port is out of range")
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port == _DEFAULT_PORTS[scheme] else f"{shown_host}:{port}"
    url = urlunsplit((scheme, netloc, parts.path or "/", parts.query, parts.fragment))
    return TargetUrl(url=url, scheme=scheme, host=host, port=port)
