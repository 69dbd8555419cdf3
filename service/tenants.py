"""Tenants (``SNAPSHOT_TENANTS_FILE``): named API keys with their own reach, permissions, limits, quota
and webhook secret.

The file is YAML or JSON, read once at start (a change takes a restart: the chart rolls the pods)::

    tenants:
      - name: monitoring                # [a-z0-9][a-z0-9_.-]*, in metrics, webhooks and /usage
        keys: [key-1, key-2]            # several, for rotation; 16 characters at least
        allow_networks: [10.20.0.0/16]  # on top of SNAPSHOT_ALLOW_NETWORKS; SNAPSHOT_DENY_NETWORKS still wins
        allow_scripts: true             # instead of SNAPSHOT_ALLOW_SCRIPTS
        max_in_flight: 8                # captures at once (0: no tenant limit)
        rate: 5                         # requests per second (0: none), bursts of `burst` (default: rate)
        quota: {captures: 10000, per: day}   # per minute, hour or day (UTC windows)
        webhook_secret: whsec_...       # else derived from SNAPSHOT_WEBHOOK_SECRET and the name

An invalid file stops the service at start with every problem named.  Keys are never kept but as
SHA-256 digests to look them up (and in memory, to verify the URLs they sign); a caller is identified by
its tenant's name, never by a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from service.envvars import Network, whsec

NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
WINDOWS = {"minute": 60, "hour": 3600, "day": 86400}
MIN_KEY_LENGTH = 16
_FIELDS = {"name", "keys", "allow_networks", "allow_scripts", "max_in_flight", "rate", "burst", "quota",
           "webhook_secret"}  # fmt: skip


@dataclass(frozen=True)
class Reach:
    """What a capture of a tenant with networks of its own shows the filtering proxy, as proxy
    authentication (``service/tenancy.py`` signs and verifies it)."""

    username: str  # the tenant's name
    password: str = field(repr=False)  # "<expires>.<signature>"


# a name that never resolves: a capture with a token asks the filtering proxy for it first, so that the
# browser has the token before the page's own requests (it then sends it with every one)
PROXY_AUTH_URL = "http://proxy-auth.snapshot.invalid/"


class TenantsError(ValueError):
    """The tenants file cannot be used; the message names every problem."""


@dataclass(frozen=True)
class Quota:
    captures: int
    per: str  # minute, hour or day

    @property
    def window(self) -> int:
        return WINDOWS[self.per]

    def window_start(self, now: float) -> int:
        return int(now // self.window) * self.window


@dataclass(frozen=True)
class Tenant:
    name: str
    keys: tuple[str, ...] = field(repr=False)  # kept to verify the URLs they sign
    allow_networks: tuple[Network, ...] = ()
    allow_scripts: bool | None = None  # None: SNAPSHOT_ALLOW_SCRIPTS decides
    max_in_flight: int = 0
    rate: float = 0.0
    burst: int = 1
    quota: Quota | None = None
    webhook_secret: str | None = None  # its own; else derived (Tenants.webhook_secret)

    def __repr__(self) -> str:  # never its keys in a log line
        return f"Tenant({self.name!r})"

    @property
    def key_digests(self) -> frozenset[str]:
        return frozenset(key_digest(k) for k in self.keys)


def key_digest(key: str) -> str:
    return hashlib.sha256(b"snapshot-key:" + key.encode()).hexdigest()


@dataclass(frozen=True)
class Tenants:
    by_name: dict[str, Tenant]
    by_key: dict[str, Tenant]  # key digest -> tenant
    secret: bytes  # signs the filtering proxy's tokens: derived from the file, the same on every replica

    @classmethod
    def empty(cls) -> Tenants:
        return cls({}, {}, b"")

    @classmethod
    def load(cls, path: str | Path) -> Tenants:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise TenantsError(f"SNAPSHOT_TENANTS_FILE: cannot read {path}: {exc.strerror}") from None
        return cls.parse(raw, json_only=str(path).endswith(".json"))

    @classmethod
    def parse(cls, raw: bytes, *, json_only: bool = False) -> Tenants:
        try:
            doc = json.loads(raw) if json_only else yaml.safe_load(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise TenantsError(f"SNAPSHOT_TENANTS_FILE: not valid {'JSON' if json_only else 'YAML'}: {exc}") from None
        problems: list[str] = []
        entries = doc.get("tenants") if isinstance(doc, dict) else None
        if not isinstance(entries, list) or not entries:
            raise TenantsError("SNAPSHOT_TENANTS_FILE: needs a non-empty `tenants` list")
        tenants: list[Tenant] = []
        for index, entry in enumerate(entries):
            tenant = _tenant(entry, f"tenants[{index}]", problems)
            if tenant is not None:
                tenants.append(tenant)
        by_name: dict[str, Tenant] = {}
        by_key: dict[str, Tenant] = {}
        for tenant in tenants:
            if tenant.name in by_name:
                problems.append(f"tenant {tenant.name!r}: the name is used twice")
            by_name[tenant.name] = tenant
            for digest in tenant.key_digests:
                if digest in by_key:
                    problems.append(f"tenant {tenant.name!r}: a key is also {by_key[digest].name!r}'s")
                by_key[digest] = tenant
        if problems:
            raise TenantsError("invalid SNAPSHOT_TENANTS_FILE:\n  " + "\n  ".join(problems))
        return cls(by_name, by_key, hashlib.sha256(b"snapshot-egress-token:" + raw).digest())

    def __bool__(self) -> bool:
        return bool(self.by_name)

    def for_key(self, key: str) -> Tenant | None:
        return self.by_key.get(key_digest(key))

    def get(self, name: str) -> Tenant | None:
        return self.by_name.get(name)

    @property
    def extra_networks(self) -> tuple[Network, ...]:
        """Every network some tenant may reach beyond the service's policy."""
        return tuple(dict.fromkeys(net for t in self.by_name.values() for net in t.allow_networks))

    def webhook_secret(self, name: str, service_secret: str | None = None) -> str | None:
        """The secret a tenant's events are signed with: its own, else one derived from the service's
        secret and its name (so no tenant's receiver accepts events signed for another)."""
        tenant = self.by_name.get(name)
        if tenant is None:
            return service_secret
        if tenant.webhook_secret is not None:
            return tenant.webhook_secret
        if service_secret is None:
            return None
        key = base64.b64decode(service_secret.removeprefix("whsec_"))
        derived = hmac.new(key, b"snapshot-tenant-webhook:" + name.encode(), hashlib.sha256).digest()
        return "whsec_" + base64.b64encode(derived).decode()


def _tenant(entry: Any, where: str, problems: list[str]) -> Tenant | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name) or re.fullmatch(r"[0-9a-f]{32}", name):
        problems.append(f"{where}: `name` must match [a-z0-9][a-z0-9_.-]* (at most 63 characters)")
        return None
    here = f"tenant {name!r}"
    found = len(problems)
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        problems.append(f"{here}: unknown fields {', '.join(unknown)}")
    keys = entry.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        problems.append(f"{here}: `keys` must be a non-empty list of strings")
        keys = []
    elif any(len(k) < MIN_KEY_LENGTH for k in keys):
        problems.append(f"{here}: every key needs {MIN_KEY_LENGTH} characters at least")
    networks: list[Network] = []
    for raw in entry.get("allow_networks") or []:
        try:
            networks.append(ipaddress.ip_network(str(raw), strict=False))
        except ValueError:
            problems.append(f"{here}: {raw!r} in `allow_networks` is not a CIDR network")
    allow_scripts = entry.get("allow_scripts")
    if allow_scripts is not None and not isinstance(allow_scripts, bool):
        problems.append(f"{here}: `allow_scripts` must be true or false")
    limits = {}
    for name_, kind in (("max_in_flight", int), ("rate", float), ("burst", int)):
        value = entry.get(name_, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (
                kind is int and not isinstance(value, int)):  # fmt: skip
            problems.append(f"{here}: `{name_}` must be a {'whole ' if kind is int else ''}number, 0 or more")
            value = 0
        limits[name_] = kind(value)
    quota = _quota(entry.get("quota"), here, problems)
    secret = entry.get("webhook_secret")
    if secret is not None and not (isinstance(secret, str) and whsec(secret)):
        problems.append(f"{here}: `webhook_secret` must be whsec_ followed by the base64 of 24 to 64 random bytes")
    if len(problems) > found:
        return None
    rate = limits["rate"]
    return Tenant(
        name=name,
        keys=tuple(keys),
        allow_networks=tuple(networks),
        allow_scripts=allow_scripts,
        max_in_flight=int(limits["max_in_flight"]),
        rate=rate,
        burst=int(limits["burst"]) or max(1, math.ceil(rate)),
        quota=quota,
        webhook_secret=secret,
    )


def _quota(raw: Any, here: str, problems: list[str]) -> Quota | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"captures", "per"}:
        problems.append(f"{here}: `quota` must be {{captures: N, per: minute|hour|day}}")
        return None
    captures, per = raw["captures"], raw["per"]
    if isinstance(captures, bool) or not isinstance(captures, int) or captures < 1 or per not in WINDOWS:
        problems.append(f"{here}: `quota` needs captures >= 1 and per one of minute, hour, day")
        return None
    return Quota(captures, per)
