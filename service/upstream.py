"""An HTTP proxy behind the filtering proxy (``SNAPSHOT_UPSTREAM_PROXY``): clusters that reach the
internet only through a corporate proxy.

The filtering proxy decides first, exactly as without one: a target the policy refuses never reaches
the upstream.  What it allowed then goes through the upstream - ``CONNECT`` for tunnels, an
absolute-form request for plain HTTP - unless ``SNAPSHOT_UPSTREAM_NO_PROXY`` names it.

A name that resolved in the cluster is handed to the upstream as the address that was checked (pinned,
so the upstream cannot resolve it to something else).  A name that does not resolve in the cluster -
clusters whose DNS knows no public names - is refused, or with ``SNAPSHOT_UPSTREAM_UNRESOLVED=forward``
handed to the upstream by name: the upstream resolves it, and only its own rules decide where it leads.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_MAX_HEAD = 64 * 1024
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class UpstreamRefused(Exception):
    """The upstream proxy could not be reached, or refused the tunnel."""


def parse_proxy_url(raw: str) -> str:
    """``http://[user:pass@]host:port`` (the settings parser; ValueError says what is wrong)."""
    value = raw.strip()
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError("must be http://[user:pass@]host:port")
    return value


def parse_no_proxy(raw: str) -> tuple[str, ...]:
    entries = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for entry in entries:
        if "/" in entry:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not a CIDR network") from None
        elif not entry.lstrip(".") or any(c in entry for c in ":@ "):
            raise ValueError(f"{entry!r} is not a host, .domain or CIDR")
    return entries


@dataclass(frozen=True)
class NoProxy:
    hosts: frozenset[str]
    suffixes: tuple[str, ...]
    networks: tuple[Network, ...]

    @classmethod
    def of(cls, entries: tuple[str, ...]) -> NoProxy:
        networks = tuple(ipaddress.ip_network(e, strict=False) for e in entries if "/" in e)
        names = [e for e in entries if "/" not in e]
        return cls(
            hosts=frozenset(n.lstrip(".") for n in names),
            suffixes=tuple("." + n.lstrip(".") for n in names),
            networks=networks,
        )

    def matches(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        host = host.lower().rstrip(".")
        if host in self.hosts or host.endswith(self.suffixes):
            return True
        return address is not None and any(address in net for net in self.networks if net.version == address.version)


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int
    authorization: str | None  # the Proxy-Authorization header's value, from the URL's credentials
    no_proxy: NoProxy

    @classmethod
    def of(cls, url: str, no_proxy: tuple[str, ...] = ()) -> Upstream:
        parts = urlsplit(url)
        authorization = None
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
        return cls(
            host=parts.hostname or "",
            port=parts.port or 3128,
            authorization=authorization,
            no_proxy=NoProxy.of(no_proxy),
        )

    def _auth_line(self) -> str:
        return f"Proxy-Authorization: {self.authorization}\r\n" if self.authorization else ""

    async def open(self, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=_MAX_HEAD), timeout=timeout
            )
        except (TimeoutError, OSError) as exc:
            raise UpstreamRefused(f"the upstream proxy could not be reached: {exc}") from None

    async def tunnel(self, target: str, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to ``target`` (``host:port``) through the upstream's CONNECT."""
        reader, writer = await self.open(timeout)
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{self._auth_line()}\r\n".encode("latin-1"))
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            raise UpstreamRefused("the upstream proxy did not answer the CONNECT") from None
        status_line = head.split(b"\r\n", 1)[0]
        if not status_line[9:12].startswith(b"2"):
            writer.close()
            raise UpstreamRefused(f"the upstream proxy refused the CONNECT: {status_line[:100]!r}")
        return reader, writer

    def request_line(self, method: str, target: str, path: str, version: str) -> str:
        """The absolute-form request line (and its authorization) a plain-HTTP request is sent with."""
        return f"{method} http://{target}{path} {version}\r\n{self._auth_line()}"
