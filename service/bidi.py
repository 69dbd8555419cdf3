"""A small synchronous WebDriver BiDi client for one browser session.

Selenium's own Python BiDi client waits for replies by polling (about 100 ms per command measured
here); this one blocks on the socket, so a command costs what the browser takes.  It runs in the
capture worker thread that owns the session; every call has a timeout.
"""

from __future__ import annotations

import itertools
import json
import time
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


class BidiConnection:
    def __init__(self, url: str, *, timeout: float, headers: list[str] | None = None) -> None:
        self._ws = websocket.create_connection(
            url, timeout=timeout, header=headers or [], suppress_origin=True, enable_multithread=False
        )
        self._ids = itertools.count(1)

    def command(self, method: str, params: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        if timeout <= 0:
            raise BidiTimeout(f"{method}: no time left")
        command_id = next(self._ids)
        deadline = time.monotonic() + timeout
        try:
            self._ws.settimeout(timeout)
            self._ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BidiTimeout(f"{method}: no answer within {timeout:.1f}s")
                self._ws.settimeout(remaining)
                message = json.loads(self._ws.recv())
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
