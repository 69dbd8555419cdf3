"""A small synchronous WebDriver BiDi client for one browser session.

Selenium's own Python BiDi client waits for replies by polling (about 100 ms per command measured
here); this one blocks on the socket, so a command costs what the browser takes.  It runs in the
capture worker thread that owns the session; every call has a timeout.
"""

from __future__ import annotations

import itertools
import json
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import websocket


class BidiError(Exception):
    """The browser answered a command with an error."""

    def __init__(self, method: str, error: str, message: str) -> None:
        super().__init__(f"{method}: {error}: {message}")
        self.error = error
        self.message = message


class BidiTimeout(Exception):
    """No answer within the command's timeout; the connection's state is unknown."""


class BidiConnectionLost(Exception):
    """The probe says the session behind this connection is gone (e.g. its Grid node died)."""


class BidiCancelled(Exception):
    """The caller gave up waiting (its client went away); the answer will be skipped when it comes."""


class BidiInterrupted(Exception):
    """The caller's ``interrupted()`` turned true while it waited (e.g. the page started navigating)."""


_POLL = 0.2  # how often a waiting command looks at its cancel flag, seconds
_PROBE_EVERY = 2.0  # how often a long wait asks the probe whether the session still exists, seconds


class BidiConnection:
    def __init__(self, url: str, *, timeout: float, headers: list[str] | None = None) -> None:
        self._ws = websocket.create_connection(
            url, timeout=timeout, header=headers or [], suppress_origin=True, enable_multithread=False
        )
        self._ids = itertools.count(1)
        self.on_event: Callable[[dict[str, Any]], None] | None = None  # sees every event that arrives

    def command(
        self,
        method: str,
        params: dict[str, Any],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        probe: Callable[[], bool] | None = None,
        interrupted: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Send one command and wait for its answer.  While waiting, ``cancel`` is watched and, every
        few seconds, ``probe()`` is asked whether the session still exists: a proxied websocket (the
        Grid's) may stay open after the browser behind it died.  Events go to ``on_event``;
        ``interrupted()``, asked before each read, may end the wait (a late answer is skipped)."""
        if timeout <= 0:
            raise BidiTimeout(f"{method}: no time left")
        command_id = next(self._ids)
        deadline = time.monotonic() + timeout
        next_probe = time.monotonic() + _PROBE_EVERY
        try:
            self._ws.settimeout(timeout)
            self._ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BidiTimeout(f"{method}: no answer within {timeout:.1f}s")
                if interrupted is not None and interrupted():
                    raise BidiInterrupted(method)
                if cancel is not None or probe is not None or interrupted is not None:
                    # wait for the next frame in short slices so a cancel is seen quickly; frames are
                    # then read whole (websocket-client never reads past the frame it parses)
                    if cancel is not None and cancel.is_set():
                        raise BidiCancelled(method)
                    if probe is not None and time.monotonic() >= next_probe:
                        if not probe():
                            raise BidiConnectionLost(f"{method}: the session is gone")
                        next_probe = time.monotonic() + _PROBE_EVERY
                    sock = self._ws.sock
                    buffered = getattr(sock, "pending", None)  # TLS: bytes already decrypted
                    if not (buffered and buffered()):
                        readable, _, _ = select.select([sock], [], [], min(_POLL, remaining))
                        if not readable:
                            continue
                self._ws.settimeout(remaining)
                message = json.loads(self._ws.recv())
                if message.get("type") == "event" and self.on_event is not None:
                    self.on_event(message)
                if message.get("id") != command_id:
                    continue  # an event, or the late answer to a command that timed out
                if message.get("type") == "error":
                    raise BidiError(method, message.get("error", "error"), message.get("message", ""))
                result: dict[str, Any] = message.get("result", {})
                return result
        except websocket.WebSocketTimeoutException:
            raise BidiTimeout(f"{method}: no answer within {timeout:.1f}s") from None

    def close(self) -> None:
        try:
            self._ws.close(timeout=1)
        except Exception:  # noqa: BLE001 - closing a broken socket must not raise
            pass
