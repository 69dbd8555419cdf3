"""Everything one capture sets up or learns in the tab, in one object with the capture's lifetime.

A ``CaptureScope`` is made when a capture starts and dropped whole by the reset once the isolation
mode has undone what it records (``steps.undo``) and cleared what it saw: nothing a capture's options
set is cleared field by field, so a new stateful option cannot leak into the next capture by a
forgotten line.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from service.browsers.consent import ConsentTracker
from service.browsers.diagnostics import Diagnostics
from service.browsers.network import RequestRules
from service.tenants import Reach


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL (credentials in it left out), else None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = parts.port
    except ValueError:
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def has_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and "@" in parts.netloc


@dataclass
class CaptureScope:
    cancel: threading.Event | None = None  # its client's disconnect flag: every command and wait watches it
    lifecycle: dict[str, str] = field(default_factory=dict)  # lifecycle event -> the document it came for
    loader: str | None = None  # the main frame's current document (lifecycle events, when it enables them)
    rules: RequestRules | None = None  # its request rules, while Fetch is enabled
    consent: ConsentTracker | None = None  # its autoconsent conversation, with block_cookie_banners
    frame_sessions: set[str] = field(default_factory=set)  # cross-site iframes attached for the options
    changed: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)  # what -> its undo
    frames: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # frame id -> (origin, parent id)
    seen_origins: set[str] = field(default_factory=set)  # of every frame, window and worker it had
    blocked: dict[str, int] = field(default_factory=dict)  # requests its rules and lists blocked, by what
    reach: Reach | None = None  # its tenant's proxy token, answered to the filtering proxy's challenges
    isolation: Any = None  # the isolation mode it runs in when not the session's (a tenant's own context)
    credentials_seen: bool = False  # a frame navigated to a URL with credentials (the session is replaced)
    document: tuple[str, list[dict[str, str]]] | None = None  # a body's bytes (base64) and headers, served to it
    said: Diagnostics | None = None  # what the page says (console, failed requests), with metadata=true
    http_auth: tuple[str, str, str] | None = field(default=None, repr=False)  # user, password, their origin

    def saw(self, url: str) -> None:
        """A frame, window or worker had ``url``: its origin's storage is cleared by the reset."""
        origin = origin_of(url)
        if origin is not None:
            self.seen_origins.add(origin)
            self.credentials_seen = self.credentials_seen or has_credentials(url)
