"""Which addresses a capture may reach.

Only globally reachable unicast addresses are allowed, plus the networks an operator lists in
``SNAPSHOT_ALLOW_NETWORKS``.  Loopback, private, link-local (cloud metadata), CGNAT, multicast,
reserved and unspecified addresses are refused, including when they hide inside IPv6 forms
(IPv4-mapped, 6to4, Teredo, NAT64).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from service.errors import Blocked
from service.urls import TargetUrl

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger("snapshot.policy")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class NetworkPolicy:
    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()
    # with an upstream proxy and SNAPSHOT_UPSTREAM_UNRESOLVED=forward: a name the cluster cannot resolve
    # passes (the upstream resolves it; service/upstream.py)
    forward_unresolved: bool = False

    def is_allowed(self, address: Address) -> bool:
        # An IPv4 address wrapped in IPv6 (mapped, 6to4, Teredo, NAT64) is judged as that IPv4 address.
        inner = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        effective: Address = inner or address
        both = {address, effective}

        def listed(networks: tuple[Network, ...]) -> bool:
            return any(a in net for a in both for net in networks if net.version == a.version)

        if listed(self.deny):
            return False
        if listed(self.allow):
            return True
        return (
            effective.is_global
            and not effective.is_multicast
            and not effective.is_reserved
            and not effective.is_unspecified
        )

    def check_addresses(self, target: TargetUrl, addresses: Iterable[Address]) -> None:
        addresses = list(addresses)
        for address in addresses:
            if not self.is_allowed(address):
                if target.ip is not None:
                    raise Blocked(f"{address}: not an address captures may reach")
                # the address a name resolves to stays in the log: naming it would let clients map the
                # cluster's internal DNS
                log.info("blocked: %s resolves to %s", target.host, address)
                raise Blocked(f"{target.host} resolves to an address captures may not reach")

    def resolve(self, target: TargetUrl) -> list[Address]:
        """Resolve the target's host (blocking: run it in an executor)."""
        literal = target.ip
        if literal is not None:
            return [literal]
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            if self.forward_unresolved:
                return []
            # 403 like a private address: a different answer would let clients probe which internal
            # names exist
            raise Blocked(f"{target.host} could not be resolved, or not to an address captures may reach") from None
        return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]

    @property
    def denies_everything(self) -> bool:
        nets = {str(n) for n in self.deny}
        return "0.0.0.0/0" in nets and "::/0" in nets

    def check(self, target: TargetUrl) -> None:
        """Resolve and check every address (blocking)."""
        if self.denies_everything:  # nothing can pass: no need to ask DNS
            raise Blocked(f"{target.host}: not an address captures may reach")
        self.check_addresses(target, self.resolve(target))
