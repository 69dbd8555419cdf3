"""What a capture changes about the page's requests: extra headers (to the target's origin only,
unless ``headers_scope=all``), blocked resource types, URL patterns, ads and trackers, cookies.

Requests are intercepted with the Fetch domain, only when a capture asks for any of this (the default
path intercepts nothing).  Each paused request is answered from the event handler without waiting:
blocked ones fail as ``BlockedByClient`` (they never reach the network), the others continue, with
the extra headers where they apply.  The egress proxy still checks every connection that is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from service.filters import Filters
from service.options import RESOURCE_TYPES
from service.params import CaptureRequest

RULES = "rules"  # what blocked a request: the capture's own rules, or a filter list's category


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
    filters: Filters | None = None
    categories: tuple[str, ...] = ()  # the filter lists it applies (block_ads, block_trackers)

    @classmethod
    def of(cls, request: CaptureRequest, filters: Filters | None = None) -> RequestRules | None:
        """The rules a capture asks for, or None when it asks for none."""
        o = request.options
        categories = o.filter_categories if filters is not None else ()
        if not (o.headers or o.block_resources or o.block_requests or categories):
            return None
        return cls(
            origin=_origin(request.target.url),  # a body's base_url (or its own origin)
            target_url=request.target.url,
            headers=tuple(o.header_pairs),
            all_origins=o.headers_scope == "all",
            blocked_types=frozenset(RESOURCE_TYPES[t] for t in o.block_resources),
            blocked_urls=tuple(Wildcard.of(p) for p in o.block_requests),
            filters=filters,
            categories=categories,
        )

    def blocked_by(self, paused: dict[str, Any], initiator: str | None, main_frame: bool) -> str | None:
        """What blocks a paused request: ``RULES``, a filter list's category, or None.  The filter lists
        never block the capture's own page (its main frame's documents): that is what was asked for."""
        url = paused["request"]["url"]
        resource_type = paused.get("resourceType", "Other")
        if resource_type in self.blocked_types or any(p.fullmatch(url) for p in self.blocked_urls):
            return RULES
        if self.categories and self.filters is not None and not main_frame:
            return self.filters.blocks(self.categories, url, initiator or self.target_url, resource_type)
        return None

    def answer(
        self, paused: dict[str, Any], initiator: str | None, main_frame: bool = False
    ) -> tuple[str, dict[str, Any], str | None]:
        """The Fetch command that releases a paused request (``Fetch.requestPaused`` params).  With
        ``headers_scope=origin`` the headers go only to the target's origin, and only when a frame of that
        origin asks (``initiator``, the origin of the frame the request comes from): a cross-origin frame
        in the page never gets the client's credentials sent for it.  The third element says what blocked
        the request (``blocked_by``), None when it goes on."""
        request = paused["request"]
        url = request["url"]
        blocked = self.blocked_by(paused, initiator, main_frame)
        if blocked is not None:
            return "Fetch.failRequest", {"requestId": paused["requestId"], "errorReason": "BlockedByClient"}, blocked
        params: dict[str, Any] = {"requestId": paused["requestId"]}
        ours = _origin(url) == self.origin and initiator is not None and _origin(initiator) == self.origin
        if self.headers and (self.all_origins or ours):
            extra = {name.lower() for name, _ in self.headers}
            kept = [{"name": k, "value": v} for k, v in request.get("headers", {}).items() if k.lower() not in extra]
            params["headers"] = kept + [{"name": k, "value": v} for k, v in self.headers]
        return "Fetch.continueRequest", params, None
