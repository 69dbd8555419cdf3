"""Webhooks signed per the Standard Webhooks specification (``standardwebhooks``): the headers
``webhook-id`` (the job's id, the same on every attempt, so receivers can drop duplicates),
``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body``
under ``SNAPSHOT_WEBHOOK_SECRET``).

A webhook URL is client input like a capture's ``url``, with a reach of its own: ports 80 and 443
(``SNAPSHOT_WEBHOOK_PORTS``), public addresses plus ``SNAPSHOT_WEBHOOK_ALLOW_NETWORKS``, never
``SNAPSHOT_DENY_NETWORKS``.  Before each attempt its host is resolved (on the bounded DNS executor),
every address is checked, and the connection goes to the checked address (TLS still verifies the
host's name), so a DNS answer that changes between check and connect cannot reach an internal address.
Redirects are not followed: only a 2xx answer counts as delivered.

Attempts run on the event loop with a wall-clock deadline (``SNAPSHOT_WEBHOOK_TIMEOUT``, resolution,
connection, request and answer together): a receiver that drips its answer byte by byte holds no
thread and no slot past it.  At most ``SNAPSHOT_WEBHOOK_CONCURRENCY`` attempts run at once, and one
tenant's at most half of them.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from service import tracing
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


class Slots:
    """At most ``total`` attempts at once, and at most ``per_tenant`` of one tenant's."""

    def __init__(self, total: int, per_tenant: int) -> None:
        self._total = asyncio.Semaphore(total)
        self.per_tenant = per_tenant
        self._tenants: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, tenant: str) -> AsyncIterator[None]:
        own = self._tenants.setdefault(tenant, asyncio.Semaphore(self.per_tenant))
        self._users[tenant] = self._users.get(tenant, 0) + 1
        try:
            async with own, self._total:
                yield
        finally:
            self._users[tenant] -= 1
            if not self._users[tenant]:
                del self._users[tenant], self._tenants[tenant]


class WebhookSender:
    def __init__(
        self,
        secret: str,
        policy: NetworkPolicy,
        timeout: float,
        *,
        resolver: Executor | None = None,
        ports: tuple[int, ...] = (80, 443),
        concurrency: int = 8,
        secret_for: Callable[[str], str | None] | None = None,
    ) -> None:
        self.signer = Webhook(secret)
        # each tenant's events are signed with its own secret (service/tenants.py), the others' with ``secret``
        self.secret_for = secret_for or (lambda tenant: None)
        self._signers: dict[str, Webhook] = {}
        self.policy = policy
        self.timeout = timeout
        self.resolver = resolver  # None: the loop's default executor
        self.ports = ports
        self.slots = Slots(concurrency, max(1, concurrency // 2))
        self._tls = ssl.create_default_context()  # the system's CAs, read once

    def sign(self, msg_id: str, body: str, now: datetime | None = None, tenant: str = "") -> dict[str, str]:
        now = now or datetime.now(tz=UTC)
        secret = self.secret_for(tenant)
        if secret is not None and secret not in self._signers:
            self._signers[secret] = Webhook(secret)
        signer = self.signer if secret is None else self._signers[secret]
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(msg_id, now, body),
        }

    @staticmethod
    def body(event: str, data: dict[str, Any]) -> str:
        timestamp = datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return json.dumps({"type": event, "timestamp": timestamp, "data": data}, separators=(",", ":"))

    def target(self, url: str) -> TargetUrl:
        """The webhook URL parsed; raises InvalidRequest, or Blocked for a port webhooks may not use."""
        target = parse_target_url(url, max_length=len(url))
        if self.ports and target.port not in self.ports:
            allowed = ", ".join(str(port) for port in self.ports)
            raise Blocked(f"port {target.port} is not one webhooks may use ({allowed}; SNAPSHOT_WEBHOOK_PORTS)")
        return target

    async def check(self, url: str) -> TargetUrl:
        """The URL parsed, resolved and every address checked (raises Blocked or InvalidRequest)."""
        return (await self._checked(url))[0]

    async def _checked(self, url: str) -> tuple[TargetUrl, str]:
        """The URL parsed and the address to connect to, every address of its host checked."""
        target = self.target(url)
        loop = asyncio.get_running_loop()
        try:
            addresses = await asyncio.wait_for(
                loop.run_in_executor(self.resolver, self.policy.resolve, target), self.timeout
            )
        except TimeoutError:
            raise Blocked(f"{target.host} could not be resolved in time") from None
        self.policy.check_addresses(target, addresses)
        return target, str(addresses[0])

    async def send(self, url: str, msg_id: str, body: str, attempt: int, tenant: str = "") -> Attempt:
        """One delivery attempt, within ``timeout`` from its start."""
        async with self.slots.hold(tenant):
            started = time.monotonic()
            at = datetime.now(tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            status: int | None = None
            error: str | None = None
            try:
                status = await asyncio.wait_for(self._post(url, msg_id, body, tenant), self.timeout)
                if not 200 <= status < 300:
                    error = f"the receiver answered {status}"
            except (Blocked, InvalidRequest) as exc:
                error = exc.message
            except TimeoutError:
                error = f"no answer within {self.timeout:g} s"
            except (OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            return Attempt(attempt, at, status, error, round((time.monotonic() - started) * 1000))

    async def _post(self, url: str, msg_id: str, body: str, tenant: str = "") -> int:
        """POSTs to the checked address; the receiver's status code (the rest of its answer is not read)."""
        target, address = await self._checked(url)
        parts = urlsplit(target.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in path):
            raise InvalidRequest("the webhook URL's path must be URL-encoded")
        data = body.encode()
        headers = {
            "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
            **self.sign(msg_id, body, tenant=tenant),
            "Content-Type": "application/json",
            "Content-Length": str(len(data)),
            "User-Agent": USER_AGENT,
            "Connection": "close",
        }
        tracing.inject(headers)  # the receiver may continue the job's trace
        head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        tls = self._tls if target.scheme == "https" else None
        reader, writer = await asyncio.open_connection(
            address, target.port, ssl=tls, server_hostname=target.host if tls else None
        )
        try:
            writer.write(head.encode("latin-1") + data)
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
        version, _, rest = line.decode("latin-1").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/") or not code.isdigit():
            raise ValueError("the receiver's answer is not HTTP")
        return int(code)
