"""What a capture changes about the page's requests: extra headers (to the target's origin only,
unless ``headers_scope=all``), blocked resource types and URL patterns, cookies.

Requests are intercepted with the Fetch domain, only when a capture asks for any of this (the default
path intercepts nothing).  Each paused request is answered from the event handler without waiting:
blocked ones fail as ``BlockedByClient`` (they never reach the network), the others continue, with
the extra headers where they apply.  The egress proxy still checks every connection that is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from service.options import RESOURCE_TYPES
from service.params import CaptureRequest


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


@dataclass(frozen=True)
class Wildcard:
    """A URL pattern where ``*`` matches anything (and nothing else is special), matched in linear time:
    it runs in the CDP event handler on every paused request, where a backtracking regular expression
    (``*`` as ``.*``) could hold the interpreter for minutes on one hostile pattern.

    The literal parts between the stars are found left to right, each at its first place after the one
    before (the leftmost place leaves the most room to the parts after it, so it never misses a match);
    the first part must start the URL and the last must end it."""

    parts: tuple[str, ...]

    @classmethod
    def of(cls, pattern: str) -> Wildcard:
        return cls(tuple(pattern.split("*")))

    def fullmatch(self, url: str) -> bool:
        parts = self.parts
        if len(parts) == 1:
            return url == parts[0]
        first, *middle, last = parts
        if len(url) < len(first) + len(last) or not url.startswith(first) or not url.endswith(last):
            return False
        position, end = len(first), len(url) - len(last)
        for part in middle:
            found = url.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
        return True


@dataclass(frozen=True)
class RequestRules:
    origin: tuple[str, str, int | None]
    target_url: str
    headers: tuple[tuple[str, str], ...]
    all_origins: bool
    blocked_types: frozenset[str]
    blocked_urls: tuple[Wildcard, ...]

    @classmethod
    def of(cls, request: CaptureRequest) -> RequestRules | None:
        """The rules a capture asks for, or None when it asks for none."""
        o = request.options
        if not (o.headers or o.block_resources or o.block_requests):
            return None
        return cls(
            origin=_origin(request.url),
            target_url=request.url,
            headers=tuple(o.header_pairs),
            all_origins=o.headers_scope == "all",
            blocked_types=frozenset(RESOURCE_TYPES[t] for t in o.block_resources),
            blocked_urls=tuple(Wildcard.of(p) for p in o.block_requests),
        )

    def answer(self, paused: dict[str, Any], initiator: str | None) -> tuple[str, dict[str, Any]]:
        """The Fetch command that releases a paused request (``Fetch.requestPaused`` params).  With
        ``headers_scope=origin`` the headers go only to the target's origin, and only when a frame of that
        origin asks (``initiator``, the origin of the frame the request comes from): a cross-origin frame
        in the page never gets the client's credentials sent for it."""
        request = paused["request"]
        url = request["url"]
        if paused.get("resourceType") in self.blocked_types or any(p.fullmatch(url) for p in self.blocked_urls):
            return "Fetch.failRequest", {"requestId": paused["requestId"], "errorReason": "BlockedByClient"}
        params: dict[str, Any] = {"requestId": paused["requestId"]}
        ours = _origin(url) == self.origin and initiator is not None and _origin(initiator) == self.origin
        if self.headers and (self.all_origins or ours):
            extra = {name.lower() for name, _ in self.headers}
            kept = [{"name": k, "value": v} for k, v in request.get("headers", {}).items() if k.lower() not in extra]
            params["headers"] = kept + [{"name": k, "value": v} for k, v in self.headers]
        return "Fetch.continueRequest", params
