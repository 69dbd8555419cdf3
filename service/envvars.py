"""How ``SNAPSHOT_*`` environment variables become typed values (``service/config.py``): one parser per
field type, and the fields that need their own."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _parse_networks(raw: str) -> tuple[Network, ...]:
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not a CIDR network") from None
    return tuple(networks)


def _parse_http_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    return value


def _parse_redis_url(raw: str) -> str:
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme not in {"redis", "rediss", "unix"} or not (parts.hostname or parts.path):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_optional(raw: str) -> Any:
        return parse(raw) if raw.strip() else None

    return parse_optional


PARSERS: dict[str, Callable[[str], Any]] = {
    "int": lambda raw: int(raw.strip()),
    "float": lambda raw: float(raw.strip()),
    "bool": _parse_bool,
    "str": lambda raw: raw.strip(),
    "str | None": lambda raw: raw.strip() or None,
    "tuple[Network, ...]": _parse_networks,
    "tuple[str, ...]": lambda raw: tuple(part.strip() for part in raw.split(",") if part.strip()),
    "tuple[int, ...]": lambda raw: tuple(int(part.strip()) for part in raw.split(",") if part.strip()),
}
SPECIAL: dict[str, Callable[[str], Any]] = {
    "grid_url": _optional(_parse_http_url),
    "s3_endpoint_url": _optional(_parse_http_url),
    "public_base_url": _optional(_parse_http_url),
    "proxy_url": _optional(_parse_http_url),
    "redis_url": _optional(_parse_redis_url),
}


def whsec(secret: str) -> bool:
    """The Standard Webhooks secret form: ``whsec_`` and base64 of 24 to 64 bytes."""
    if not secret.startswith("whsec_"):
        return False
    try:
        return 24 <= len(base64.b64decode(secret[6:], validate=True)) <= 64
    except (binascii.Error, ValueError):
        return False


def describe(cls: type) -> list[tuple[str, str, str]]:
    """(env name, default, help) of every field of a settings dataclass."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(str(n) for n in default)
        elif isinstance(default, bool):
            default = str(default).lower()
        rows.append((f.metadata["env"], "" if default is None else str(default), f.metadata["help"]))
    return rows
