"""How ``SNAPSHOT_*`` environment variables become typed values (``service/config.py``): a setting's
declaration (``setting``: its variable, default, help and limits), one parser per field type and the
fields that need their own, and the reading of a settings class from the environment with every
problem collected (``read``)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from service.upstream import parse_no_proxy, parse_proxy_url

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")


def setting(
    env: str,
    default: Any,
    help: str,
    *,
    secret: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """A settings field: its environment variable, default, one-line help, and the limits its value
    must keep (``minimum``/``maximum`` inclusive, ``above`` exclusive, ``choices``)."""
    limits = {"minimum": minimum, "maximum": maximum, "above": above, "choices": choices}
    metadata = {"env": env, "help": help, "secret": secret, **limits}
    return dataclasses.field(default=default, metadata=metadata, repr=not secret)


def limit_problem(f: dataclasses.Field[Any], value: Any) -> str | None:
    """What is wrong with ``value`` against the limits ``f`` declares, or None."""
    meta = f.metadata
    low, high, above, choices = meta["minimum"], meta["maximum"], meta["above"], meta["choices"]
    if choices is not None and value not in choices and str(value).upper() not in choices:
        return "must be " + " or ".join(repr(c) if c == "" else c for c in choices)
    if low is not None and high is not None and not low <= value <= high:
        return f"must be between {low} and {high}"
    if low is not None and value < low:
        return "must be 0 or more" if low == 0 else f"must be at least {low}"
    if above is not None and value <= above:
        return "must be a positive number" + (" of seconds" if isinstance(value, float) else "")
    return None


def read(
    cls: type[T], environ: Mapping[str, str], overrides: Mapping[str, Any], rules: Callable[[T], list[str]]
) -> tuple[T, list[str]]:
    """An instance of the settings dataclass ``cls`` from ``environ`` (and ``overrides``), and every
    problem: values that do not parse, values out of their declared limits, and ``rules(settings)``
    (what depends on several settings)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        env = f.metadata["env"]
        if env not in environ:
            continue
        parse = SPECIAL.get(f.name) or PARSERS.get(str(f.type))
        if parse is None:  # a programming error: a setting of a type nobody parses
            raise TypeError(f"setting {f.name}: no parser for its type {f.type}")
        raw = environ[env]
        try:
            values[f.name] = parse(raw)
        except ValueError as exc:
            shown = "***" if f.metadata["secret"] else repr(raw)
            reason = str(exc) if not str(exc).startswith("invalid literal") else f"must be {f.type}"
            problems.append(f"{env}={shown}: {reason}")
    values.update(overrides)
    settings = cls(**values)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        problem = limit_problem(f, getattr(settings, f.name))
        if problem is not None:
            problems.append(f"{f.metadata['env']}: {problem}")
    return settings, problems + rules(settings)


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
    "upstream_proxy": _optional(parse_proxy_url),
    "upstream_no_proxy": parse_no_proxy,
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
