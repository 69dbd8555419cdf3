"""What the page said while it was captured (``metadata=true``): its console messages and uncaught
exceptions, and the requests that failed or answered 4xx/5xx.

Collected from the tab's own DevTools events (``Runtime`` and ``Network``, enabled for such captures
only): the main frame and the frames in its process.  Each list is capped, each text cut; only URLs and
statuses of requests are kept - never their headers, bodies or cookies, and never the credentials a URL
may carry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MAX_ENTRIES = 100  # console messages, and failed requests, kept per capture
MAX_TEXT = 1000  # characters of a console message
MAX_URL = 2048
_MAX_PENDING = 2000  # requests in flight whose URL is remembered (until they finish)
_LEVELS = {"warning": "warning", "error": "error", "assert": "error", "debug": "debug", "info": "info"}


def safe_url(url: str) -> str:
    """The URL without credentials, cut at ``MAX_URL`` characters."""
    try:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            host = parts.hostname or ""
            netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
            url = urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return url[:MAX_URL]
    return url[:MAX_URL]


def _text(arg: dict[str, Any]) -> str:
    """A console argument as the DevTools console would print it, briefly."""
    if "value" in arg:
        value = arg["value"]
        return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return str(arg.get("description") or arg.get("unserializableValue") or arg.get("type", ""))


@dataclass
class Diagnostics:
    console: list[dict[str, str]] = field(default_factory=list)
    failed_requests: list[dict[str, Any]] = field(default_factory=list)
    _urls: dict[str, str] = field(default_factory=dict)  # request id -> URL, while in flight
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        """An event of the tab (from the DevTools reader thread)."""
        with self._lock:
            if method == "Runtime.consoleAPICalled":
                text = " ".join(_text(arg) for arg in params.get("args", []))
                self._say(_LEVELS.get(str(params.get("type")), "log"), text)
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                description = str((details.get("exception") or {}).get("description") or "")
                first = description.splitlines()[0] if description else ""
                self._say("error", f"{details.get('text', 'Uncaught')} {first}".strip())
            elif method == "Network.requestWillBeSent":
                url = str(params.get("request", {}).get("url", ""))
                if len(self._urls) < _MAX_PENDING and not url.startswith("data:"):
                    self._urls[params["requestId"]] = url
            elif method == "Network.responseReceived":
                status = int(params.get("response", {}).get("status") or 0)
                if status >= 400:
                    self._failed({"url": safe_url(str(params["response"].get("url", ""))), "status": status})
            elif method == "Network.loadingFinished":
                self._urls.pop(params.get("requestId", ""), None)
            elif method == "Network.loadingFailed":
                url = self._urls.pop(params.get("requestId", ""), "")
                if url and not params.get("canceled"):
                    error = str(params.get("blockedReason") or params.get("errorText") or "failed")
                    self._failed({"url": safe_url(url), "error": error})

    def _say(self, level: str, text: str) -> None:
        if len(self.console) < MAX_ENTRIES:
            self.console.append({"level": level, "text": text[:MAX_TEXT]})

    def _failed(self, entry: dict[str, Any]) -> None:
        if len(self.failed_requests) < MAX_ENTRIES:
            self.failed_requests.append(entry)

    def view(self) -> tuple[tuple[dict[str, str], ...], tuple[dict[str, Any], ...]]:
        """What it heard until now: (console, failed_requests)."""
        with self._lock:
            return tuple(self.console), tuple(self.failed_requests)
