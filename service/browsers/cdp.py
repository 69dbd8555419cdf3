"""A small synchronous Chrome DevTools Protocol client for one browser session.

The service drives Chromium over CDP directly: through the Grid's ``se/cdp`` websocket (the node
relays it to the browser) or, for a local ChromeDriver, to the browser's own debugging port.  WebDriver
BiDi, which ChromeDriver implements with a JavaScript mapper running in a hidden tab, costs more
browser CPU per capture (measured in the benchmark history); where browsers are CPU-bound that is
throughput.

Calls block on the socket (no polling), run in the capture worker thread that owns the session, and
every call has a timeout.  One connection carries the browser's commands and, with ``session``, those
of attached targets (flat mode).
"""

from __future__ import annotations

import itertools
import json
import select
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import websocket
from websocket._abnf import frame_buffer  # the reader websocket-client uses; capped below


class CdpError(Exception):
    """The browser answered a command with an error."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: {code}: {message}")
        self.method = method
        self.code = code
        self.message = message

    @property
    def session_gone(self) -> bool:
        """The error says the tab or its session no longer exists (not that the command was refused)."""
        text = self.message.lower()
        return self.code == _SESSION_NOT_FOUND or any(words in text for words in _GONE)


_SESSION_NOT_FOUND = -32001  # "Session with given id not found."
_GONE = (
    "session with given id not found",
    "target closed",
    "target crashed",
    "no target with given id",
    "not attached",
)


class CdpTimeout(Exception):
    """No answer within the command's timeout; the connection's state is unknown."""


class CdpConnectionLost(Exception):
    """The probe says the session behind this connection is gone (e.g. its Grid node died)."""


class CdpCancelled(Exception):
    """The caller gave up waiting (its client went away); the answer will be skipped when it comes."""


class CdpInterrupted(Exception):
    """The caller's ``interrupted()`` turned true while it waited (e.g. the page started navigating)."""


class CdpMessageTooLarge(Exception):
    """A message larger than the connection's limit was announced; it was not read, and the connection
    cannot be used any more."""


class _CappedFrames(frame_buffer):
    """websocket-client's frame reader, refusing a frame whose announced length is over ``limit`` before
    reading it (websocket-client itself reads any length into memory)."""

    def __init__(self, recv: Callable[[int], bytes], limit: int) -> None:
        super().__init__(recv, skip_utf8_validation=True)
        self.limit = limit

    def recv_length(self) -> None:
        super().recv_length()
        if self.length is not None and self.length > self.limit:
            raise CdpMessageTooLarge(f"a DevTools message of {self.length} bytes (at most {self.limit})")


_POLL = 0.2  # how often a waiting command looks at its cancel flag, seconds
_PROBE_EVERY = 2.0  # how often a long wait asks the probe whether the session still exists, seconds


MAX_MESSAGE = 256 << 20  # bytes: the default limit of one message


class CdpConnection:
    def __init__(
        self, url: str, *, timeout: float, headers: list[str] | None = None, max_message: int = MAX_MESSAGE
    ) -> None:
        self.url = url
        # websocket-client validates UTF-8 in pure Python (costly on a screenshot's message); the text is
        # decoded strictly for json anyway
        self._ws = websocket.create_connection(
            url,
            timeout=timeout,
            header=headers or [],
            suppress_origin=True,
            enable_multithread=False,
            skip_utf8_validation=True,
        )
        self._ws.frame_buffer = _CappedFrames(self._ws._recv, max_message)
        self._ids = itertools.count(1)
        self._kept: dict[int, dict[str, Any] | None] = {}  # answers of send_kept commands (None: not yet)
        self.on_event: Callable[[dict[str, Any]], None] | None = None  # sees every event that arrives

    def send(self, method: str, params: dict[str, Any], session: str | None = None) -> None:
        """A command whose answer nobody waits for (it is skipped when it comes)."""
        self._ws.send(json.dumps(self._message(next(self._ids), method, params, session)))

    def send_kept(self, method: str, params: dict[str, Any], session: str | None = None) -> int:
        """A command that runs while the caller waits for something else: its answer is kept when it
        comes, for :meth:`kept_answer`.  Returns its id."""
        command_id = next(self._ids)
        self._kept[command_id] = None
        self._ws.send(json.dumps(self._message(command_id, method, params, session)))
        return command_id

    def kept_answer(
        self,
        command_id: int,
        method: str,
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        probe: Callable[[], bool] | None = None,
        interrupted: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """The result of a :meth:`send_kept` command, waited for (see :meth:`wait`) if it has not come yet."""
        if self._kept.get(command_id) is None:
            if timeout <= 0:
                raise CdpTimeout(f"{method}: no time left")

            def answered(_: dict[str, Any]) -> bool:
                return self._kept.get(command_id) is not None

            self._pump(method, answered, time.monotonic() + timeout, timeout, cancel, probe, interrupted)
        return self._result(method, self._kept.pop(command_id) or {})

    def forget(self, command_id: int) -> None:
        """Drop a :meth:`send_kept` command's answer (now or when it comes)."""
        self._kept.pop(command_id, None)

    @staticmethod
    def _message(command_id: int, method: str, params: Mapping[str, Any], session: str | None) -> dict[str, Any]:
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        return message

    def command(
        self,
        method: str,
        params: dict[str, Any],
        *,
        session: str | None = None,
        timeout: float,
        cancel: threading.Event | None = None,
        probe: Callable[[], bool] | None = None,
        interrupted: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Send one command (to the target attached as ``session``, else to the browser) and wait for
        its answer.  While waiting, see :meth:`wait`."""
        if timeout <= 0:
            raise CdpTimeout(f"{method}: no time left")
        command_id = next(self._ids)
        answer: dict[str, Any] = {}

        def answered(message: dict[str, Any]) -> bool:
            if message.get("id") != command_id:
                return False  # an event, or the late answer to a command that timed out
            answer.update(message)
            return True

        self._ws.settimeout(timeout)
        self._ws.send(json.dumps(self._message(command_id, method, params, session)))
        self._pump(method, answered, time.monotonic() + timeout, timeout, cancel, probe, interrupted)
        return self._result(method, answer)

    def batch(
        self, calls: Sequence[tuple[str, Mapping[str, Any], str | None]], *, timeout: float
    ) -> list[dict[str, Any]]:
        """Several independent commands ``(method, params, session)`` sent at once; their results in
        order once all have answered (the first error raised then).  One round trip instead of many."""
        if timeout <= 0:
            raise CdpTimeout("batch: no time left")
        ids = {next(self._ids): index for index in range(len(calls))}
        answers: dict[int, dict[str, Any]] = {}

        def all_answered(message: dict[str, Any]) -> bool:
            if message.get("id") in ids:
                answers[ids[message["id"]]] = message
            return len(answers) == len(calls)

        self._ws.settimeout(timeout)
        for command_id, index in ids.items():
            method, params, session = calls[index]
            self._ws.send(json.dumps(self._message(command_id, method, params, session)))
        if calls:
            self._pump(calls[0][0], all_answered, time.monotonic() + timeout, timeout, None, None, None)
        return [self._result(method, answers[index]) for index, (method, _, _) in enumerate(calls)]

    @staticmethod
    def _result(method: str, answer: dict[str, Any]) -> dict[str, Any]:
        if "error" in answer:
            error = answer["error"]
            raise CdpError(method, int(error.get("code", 0)), str(error.get("message", "")))
        result: dict[str, Any] = answer.get("result", {})
        return result

    def wait(
        self,
        what: str,
        until: Callable[[], bool],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        probe: Callable[[], bool] | None = None,
    ) -> None:
        """Read events (handing each to ``on_event``) until ``until()`` is true."""
        if until():
            return
        if timeout <= 0:
            raise CdpTimeout(f"{what}: no time left")
        self._pump(what, lambda _: until(), time.monotonic() + timeout, timeout, cancel, probe, None)

    def _pump(
        self,
        what: str,
        done: Callable[[dict[str, Any]], bool],
        deadline: float,
        timeout: float,
        cancel: threading.Event | None,
        probe: Callable[[], bool] | None,
        interrupted: Callable[[], bool] | None,
    ) -> None:
        """Read messages until ``done(message)``.  ``cancel`` is watched and, every few seconds,
        ``probe()`` asked whether the session still exists: a proxied websocket (the Grid's) may stay
        open after the browser behind it died.  ``interrupted()``, asked before each read, may end the
        wait (a late answer is skipped)."""
        next_probe = time.monotonic() + _PROBE_EVERY
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CdpTimeout(f"{what}: nothing within {timeout:.1f}s")
                if interrupted is not None and interrupted():
                    raise CdpInterrupted(what)
                if cancel is not None or probe is not None or interrupted is not None:
                    # wait for the next frame in short slices so a cancel is seen quickly; frames are
                    # then read whole (websocket-client never reads past the frame it parses)
                    if cancel is not None and cancel.is_set():
                        raise CdpCancelled(what)
                    if probe is not None and time.monotonic() >= next_probe:
                        if not probe():
                            raise CdpConnectionLost(f"{what}: the session is gone")
                        next_probe = time.monotonic() + _PROBE_EVERY
                    sock = self._ws.sock
                    if sock is None:
                        raise CdpConnectionLost(f"{what}: the connection is closed")
                    buffered = getattr(sock, "pending", None)  # TLS: bytes already decrypted
                    if not (buffered and buffered()):
                        readable, _, _ = select.select([sock], [], [], min(_POLL, remaining))
                        if not readable:
                            continue
                self._ws.settimeout(remaining)
                message = json.loads(self._ws.recv())
                if message.get("id") in self._kept:
                    self._kept[message["id"]] = message
                if "method" in message and "id" not in message and self.on_event is not None:
                    self.on_event(message)
                if done(message):
                    return
        except websocket.WebSocketTimeoutException:
            raise CdpTimeout(f"{what}: nothing within {timeout:.1f}s") from None

    def close(self) -> None:
        try:
            self._ws.close(timeout=1)
        except Exception:  # closing a broken socket must not raise
            pass
