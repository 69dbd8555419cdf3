"""Webhooks signed per the Standard Webhooks specification (``standardwebhooks``): the headers
``webhook-id`` (the job's id, the same on every attempt, so receivers can drop duplicates),
``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body``
under ``SNAPSHOT_WEBHOOK_SECRET``).

A webhook URL is client input like a capture's ``url``: before each attempt its host is resolved, every
address is checked against the network policy, and the connection goes to the checked address (TLS
still verifies the host's name), so a DNS answer that changes between check and connect cannot reach
an internal address.  Redirects are not followed: only a 2xx answer counts as delivered.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from service.errors import Blocked, InvalidRequest
from service.netpolicy import NetworkPolicy
from service.urls import TargetUrl, parse_target_url

MAX_BACKOFF = 300.0  # seconds: the longest pause between two attempts
USER_AGENT = "Snapshot-Webhooks/1"


def backoff(attempt: int, base: float) -> float:
    """Seconds before ``attempt`` (2, 3, ...): doubling from ``base``, capped, with full jitter in its
    upper half so that receivers recovering from an outage are not hit by every sender at once."""
    ceiling = min(MAX_BACKOFF, base * 2 ** (attempt - 2))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not secrecy


@dataclass
class Attempt:
    attempt: int
    at: str  # ISO 8601, UTC
    status: int | None  # the receiver's HTTP status; None: no answer
    error: str | None
    ms: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the URL's host for SNI and certificate checks."""

    def __init__(self, address: str, port: int, server_name: str, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self.server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.server_name)  # type: ignore[attr-defined]


class WebhookSender:
    def __init__(self, secret: str, policy: NetworkPolicy, timeout: float) -> None:
        self.signer = Webhook(secret)
        self.policy = policy
        self.timeout = timeout

    def sign(self, msg_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
        now = now or datetime.now(tz=UTC)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(msg_id, now, body),
        }

    @staticmethod
    def body(event: str, data: dict[str, Any]) -> str:
        timestamp = datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return json.dumps({"type": event, "timestamp": timestamp, "data": data}, separators=(",", ":"))

    def _connect(self, target: TargetUrl) -> http.client.HTTPConnection:
        addresses = self.policy.resolve(target)
        self.policy.check_addresses(target, addresses)  # raises Blocked
        address = str(addresses[0])
        if target.scheme == "https":
            return _PinnedHTTPSConnection(address, target.port, target.host, self.timeout)
        return http.client.HTTPConnection(address, target.port, timeout=self.timeout)

    def send(self, url: str, msg_id: str, body: str, attempt: int) -> Attempt:
        """One delivery attempt (blocking: run it in an executor)."""
        started = time.monotonic()
        at = datetime.now(tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        status: int | None = None
        error: str | None = None
        try:
            target = parse_target_url(url, max_length=len(url))
            connection = self._connect(target)
            parts = urlsplit(target.url)
            headers = {
                **self.sign(msg_id, body),
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
            }
            try:
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                connection.request("POST", path, body.encode(), headers)
                response = connection.getresponse()
                response.read(65536)
                status = response.status
                if not 200 <= status < 300:
                    error = f"the receiver answered {status}"
            finally:
                connection.close()
        except (Blocked, InvalidRequest) as exc:
            error = exc.message
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        return Attempt(attempt, at, status, error, round((time.monotonic() - started) * 1000))
