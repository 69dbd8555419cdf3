"""The browsers' filtering forward proxy: every connection a page makes is checked when it is made.

Checking the URL a client gives is not enough: the browser resolves names again (DNS rebinding),
and the page redirects, frames, fetches, opens websockets, refreshes and navigates by script.  So the
browsers are started with ``--proxy-server`` pointing here (and flags that keep loopback, QUIC and
WebRTC from going around it).  For each request this proxy resolves the host itself, checks *every*
address against the same :class:`~service.netpolicy.NetworkPolicy` as the API, and connects only to
an address it checked.  A refused destination is counted and gets ``403`` (CONNECT, which browsers
report as a tunnel failure) or a closed connection (plain HTTP, which they report as an empty
response): either way a network error, never a page.

Behind it there may be the cluster's own proxy to the internet (``SNAPSHOT_UPSTREAM_PROXY``,
:mod:`service.upstream`): what this proxy allowed goes on through that one; what it refused never does.

It speaks the two forms browsers use: ``CONNECT host:port`` (HTTPS, WebSockets over TLS) and
absolute-form HTTP requests (``GET http://host/path``), which it rewrites to origin-form with
``Connection: close`` so that one upstream connection never serves another destination.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from service.errors import InvalidRequest
from service.netpolicy import Address, NetworkPolicy
from service.tenancy import PROXY_REALM, Tenancy
from service.tenants import PROXY_AUTH_URL
from service.upstream import Upstream, UpstreamRefused
from service.urls import canonical_host

log = logging.getLogger("snapshot.egress")

_MAX_HEAD = 64 * 1024
_HOP_BY_HOP = {"proxy-connection", "proxy-authorization", "connection", "keep-alive"}


class _Refused(Exception):
    def __init__(self, status: int, reason: str, addresses: tuple[Address, ...] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.addresses = addresses  # of a 403: every address the name resolved to


_AUTH_HOST = urlsplit(PROXY_AUTH_URL).hostname
_REASONS = {400: "Bad Request", 403: "Forbidden", 407: "Proxy Authentication Required", 502: "Bad Gateway"}


def parse_target(method: str, target: str) -> tuple[str, int, str | None]:
    """(host, port, origin-form path or None for CONNECT) from a proxy request line."""
    if method == "CONNECT":
        host, sep, port = target.rpartition(":")
        if not sep or not port.isdigit():
            raise _Refused(400, "CONNECT needs host:port")
        return _host(host.strip("[]") if host.startswith("[") else host), _port(port), None
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "ws") or not parts.hostname:
        raise _Refused(400, "only absolute http:// requests and CONNECT are proxied")
    try:
        port_number = parts.port or 80
    except ValueError:
        raise _Refused(400, "bad port") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _host(parts.hostname), _port(str(port_number)), path


def _host(raw: str) -> str:
    try:
        ipaddress.ip_address(raw)
        return raw
    except ValueError:
        pass
    try:
        return canonical_host(raw)
    except InvalidRequest:
        raise _Refused(400, "bad host") from None


def _port(raw: str) -> int:
    port = int(raw)
    if not 0 < port < 65536:
        raise _Refused(400, "bad port")
    return port


class EgressProxy:
    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        connect_timeout: float = 10.0,
        max_lifetime: float = 300.0,
        on_verdict: Callable[[str], None] | None = None,
        upstream: Upstream | None = None,
        tenancy: Tenancy | None = None,
    ) -> None:
        self.policy = policy
        self.upstream = upstream
        self.tenancy = tenancy  # tenants' own networks, for captures that show their token
        self.connect_timeout = connect_timeout
        self.max_lifetime = max_lifetime
        self._on_verdict = on_verdict or (lambda verdict: None)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, limit=_MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await asyncio.wait_for(self._handle(reader, writer), timeout=self.max_lifetime)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
            host, port, path = parse_target(method.upper(), target)
            policy, identified = self._policy(lines[1:])
            if host == _AUTH_HOST:  # a capture showing its token before its page loads
                if not identified:
                    raise _Refused(407, "show the capture's proxy credentials")
                self._on_verdict("authenticated")
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            up_reader, up_writer, via = await self._connect(host, port, path, policy)
        except _Refused as refused:
            await self._refuse(writer, lines[0], refused)
            return
        except ValueError:
            self._on_verdict("error")
            return
        self._on_verdict("allowed")
        try:
            if path is None:
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await writer.drain()
            else:
                headers = [
                    line for line in lines[1:] if line and line.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP
                ]
                upgrade = any(line.lower().startswith("upgrade:") for line in headers)
                connection = "Connection: Upgrade" if upgrade else "Connection: close"
                # origin-form to the target; absolute-form (with its credentials) to an upstream proxy
                if via is None or self.upstream is None:
                    line = f"{method} {path} {version}\r\n"
                else:
                    line = self.upstream.request_line(method, via, path, version)
                request = line + "\r\n".join([*headers, connection, "", ""])
                up_writer.write(request.encode("latin-1"))
                await up_writer.drain()
            await _pipe_both(reader, writer, up_reader, up_writer)
        finally:
            up_writer.close()

    def _policy(self, headers: list[str]) -> tuple[NetworkPolicy, bool]:
        """The policy for a request: a tenant's when it shows a valid token of its capture (proxy
        authentication, service/tenancy.py), else the service's.  A token that is not valid is refused."""
        given = next((h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("proxy-authorization:")), "")
        if not given or self.tenancy is None:
            return self.policy, False
        scheme, _, encoded = given.partition(" ")
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username = password = ""
        granted = self.tenancy.verify(username, password) if scheme.lower() == "basic" else None
        if granted is None:
            raise _Refused(403, "the proxy credentials are not valid")
        return granted, True

    async def _refuse(self, writer: asyncio.StreamWriter, request_line: str, refused: _Refused) -> None:
        verdict = {403: "blocked", 407: "challenged"}.get(refused.status, "error")
        self._on_verdict(verdict)
        if refused.status != 407:
            log.info("egress refused %s: %s", request_line[:200], refused.reason)
        if refused.status != 407 and not request_line.upper().startswith("CONNECT "):
            # A plain-HTTP answer from a proxy is shown by the browser as the page itself; closing
            # instead makes it a network error (never a screenshot of an error text).
            return
        body = f"{refused.reason}\n".encode()
        challenge = f'Proxy-Authenticate: Basic realm="{PROXY_REALM}"\r\n' if refused.status == 407 else ""
        writer.write(
            f"HTTP/1.1 {refused.status} {_REASONS.get(refused.status, 'Error')}\r\n{challenge}"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def _connect(
        self, host: str, port: int, path: str | None, policy: NetworkPolicy
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str | None]:
        """A connection for the request (to the target, or through the upstream proxy), and for a plain
        HTTP request through the upstream the head it is to be sent with."""
        addresses = await self._checked(host, port, policy)
        upstream = self.upstream
        if upstream is None or upstream.no_proxy.matches(host, addresses[0] if addresses else None):
            if not addresses:
                raise _Refused(403, f"{host} could not be resolved")
            return (*await self._direct(host, port, addresses), None)
        # to the upstream as the address that was checked (pinned), or by name when the cluster cannot
        # resolve it and the operator chose to forward such names (service/upstream.py)
        name = host if not addresses else str(addresses[0])
        target = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
        try:
            if path is None:
                return (*await upstream.tunnel(target, self.connect_timeout), None)
            return (*await upstream.open(self.connect_timeout), target)
        except UpstreamRefused as refused:
            raise _Refused(502, str(refused)) from None

    async def _checked(self, host: str, port: int, policy: NetworkPolicy) -> list[Address]:
        """Every address ``host`` resolves to, each allowed by ``policy``; [] when it does not resolve and
        may be forwarded by name to the upstream proxy."""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.wait_for(
                    asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
                    timeout=self.connect_timeout,
                )
            except (TimeoutError, OSError):
                if self.upstream is not None and policy.forward_unresolved:
                    return []
                raise _Refused(502, f"{host} could not be resolved") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        refused = [a for a in addresses if not policy.is_allowed(a)]
        if refused or not addresses:
            reason = f"{host}:{port} resolves to {refused[0] if refused else 'nothing'}: not allowed"
            raise _Refused(403, reason, tuple(addresses))
        return addresses

    async def _direct(
        self, host: str, port: int, addresses: list[Address]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        last_error: Exception | None = None
        for address in dict.fromkeys(addresses):  # each checked address, in resolver order
            try:
                return await asyncio.wait_for(asyncio.open_connection(str(address), port), timeout=self.connect_timeout)
            except (TimeoutError, OSError) as exc:
                last_error = exc
        raise _Refused(502, f"could not connect to {host}:{port}: {last_error}")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def _pipe_both(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    tasks = [
        asyncio.ensure_future(_pipe(client_reader, up_writer)),
        asyncio.ensure_future(_pipe(up_reader, client_writer)),
    ]
    try:
        # when the upstream is done answering, the exchange is over
        await tasks[1]
    finally:
        for task in tasks:
            task.cancel()
