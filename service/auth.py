"""API keys (optional: anonymous ones in ``SNAPSHOT_API_KEYS``, tenants' in ``SNAPSHOT_TENANTS_FILE``) and
HMAC-signed GET URLs for ``<img>`` embedding.  A URL signed by a tenant's key acts as that tenant.

A request is allowed with a key in ``X-API-Key`` or ``Authorization: Bearer``, or - for GET - with
``expires`` (unix time) and ``signature`` query parameters: the hex HMAC-SHA256, under any configured
key, of ``GET``, the path and the canonical query, one per line.  The canonical query is every
parameter but ``signature`` as ``name=value`` pairs sorted by name (repeated values of a list option
keep their order), URL-encoded.  Compare in constant time.

A signed request is exactly its signed query: it is refused when it has a body, repeats a parameter
that takes one value, was signed for another path, has expired, or expires further ahead than
``SNAPSHOT_MAX_SIGNED_TTL``.

    python -m service.auth --key KEY --url https://example.com --width 800 --height 600 --ttl 3600
prints a signed ``/create_snap?...`` path.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from service.capture import Outcome
from service.errors import SnapshotError
from service.tenants import Tenant, Tenants

Params = Mapping[str, str | Sequence[str]]
_UNSIGNED = ("signature", "")  # "": the `?=,` of the published POST example
SIGNED_METHOD = "GET"  # HEAD is checked as GET
DEFAULT_PATH = "/create_snap"


class Unauthorized(SnapshotError):
    status = 401
    code = "unauthorized"
    outcome = Outcome.INVALID


def _pairs(params: Params) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, values in params.items()
        if name not in _UNSIGNED
        for value in ([values] if isinstance(values, str) else values)
    ]


def canonical_query(params: Params) -> str:
    """The pairs sorted by name only: a stable sort keeps the order of a list option's values, which
    is the order the capture applies them in."""
    return urlencode(sorted(_pairs(params), key=lambda pair: pair[0]))


def string_to_sign(path: str, params: Params) -> str:
    return f"{SIGNED_METHOD}\n{path}\n{canonical_query(params)}"


def _last(params: Params, name: str) -> str:
    values = params.get(name, "")
    return values if isinstance(values, str) else (values[-1] if values else "")


def signature(key: str, params: Params, path: str = DEFAULT_PATH) -> str:
    return hmac.new(key.encode(), string_to_sign(path, params).encode(), hashlib.sha256).hexdigest()


def sign(
    key: str, params: Params, ttl: float, now: float | None = None, path: str = DEFAULT_PATH
) -> dict[str, str | list[str]]:
    """``params`` plus ``expires`` and ``signature``, for a GET of ``path``."""
    signed: dict[str, str | list[str]] = {
        k: (str(v) if isinstance(v, str | int) else [str(item) for item in v]) for k, v in params.items()
    }
    signed["expires"] = str(int((now if now is not None else time.time()) + ttl))
    signed["signature"] = signature(key, signed, path)
    return signed


@dataclass(frozen=True)
class Caller:
    """Who is calling: ``id`` is "" without keys, a digest of an anonymous key (``SNAPSHOT_API_KEYS``), or
    a tenant's name; it partitions the cache, owns jobs and names the tenant in webhooks."""

    id: str = ""
    tenant: Tenant | None = None

    @property
    def name(self) -> str:
        """Its tenant's name, "" when it is not a tenant of the tenants file."""
        return self.tenant.name if self.tenant is not None else ""


class ApiKeys:
    def __init__(
        self,
        keys: tuple[str, ...],
        *,
        max_signed_ttl: float = 7 * 86400,
        repeatable: Collection[str] = (),
        tenants: Tenants | None = None,
    ):
        self.keys = keys
        self.max_signed_ttl = max_signed_ttl
        self.repeatable = frozenset(repeatable)  # the parameters a signed query may repeat (list options)
        self.tenants = tenants or Tenants.empty()

    @property
    def enabled(self) -> bool:
        return bool(self.keys) or bool(self.tenants)

    def check(self, headers: Mapping[str, str], params: Params, **kwargs: Any) -> str:
        """The caller's identity (``Caller.id``); see :meth:`identify`."""
        return self.identify(headers, params, **kwargs).id

    def _signers(self) -> list[tuple[str, Caller]]:
        """Every key that may sign a URL, with the caller it makes."""
        anonymous = [(key, Caller(tenant_of(key))) for key in self.keys]
        named = [(key, Caller(t.name, t)) for t in self.tenants.by_name.values() for key in t.keys]
        return anonymous + named

    def identify(
        self,
        headers: Mapping[str, str],
        params: Params,
        *,
        method: str,
        path: str = DEFAULT_PATH,
        has_body: bool = False,
        now: float | None = None,
    ) -> Caller:
        """The caller: its tenant by the key it used or that signed its URL, or a digest of an anonymous
        key (``Caller()`` when keys are off).  Raises :class:`Unauthorized` unless the request carries a
        valid key or signature."""
        if not self.enabled:
            return Caller()
        given = headers.get("X-API-Key") or ""
        auth = headers.get("Authorization") or ""
        if not given and auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        if given:
            tenant = self.tenants.for_key(given)  # by digest: no timing tells a key's characters
            if tenant is not None:
                return Caller(tenant.name, tenant)
            for key in self.keys:
                if hmac.compare_digest(given.encode(), key.encode()):
                    return Caller(tenant_of(key))
            raise Unauthorized("the API key is not valid")
        if method in ("GET", "HEAD") and "signature" in params:
            return self._check_signed(params, path, has_body, time.time() if now is None else now)
        raise Unauthorized("an API key is required (X-API-Key or Authorization: Bearer), or a signed URL")

    def _check_signed(self, params: Params, path: str, has_body: bool, now: float) -> Caller:
        if has_body:
            raise Unauthorized("a signed URL is the whole request: send no body with it")
        repeated = sorted(
            name
            for name, values in params.items()
            if not isinstance(values, str) and len(values) > 1 and name not in self.repeatable
        )
        if repeated:
            raise Unauthorized(f"a signed URL gives each parameter once ({', '.join(repeated)} repeated)")
        expires = _last(params, "expires")
        if not expires.isdigit() or int(expires) < now:
            raise Unauthorized("the signed URL has expired or has no valid expires parameter")
        if int(expires) > now + self.max_signed_ttl:
            raise Unauthorized(f"a signed URL may be valid for at most {int(self.max_signed_ttl)} seconds")
        given_signature = _last(params, "signature").encode()
        for key, caller in self._signers():
            if hmac.compare_digest(given_signature, signature(key, params, path).encode()):
                return caller
        raise Unauthorized("the URL's signature is not valid (it signs GET, the path and the query)")


def tenant_of(key: str) -> str:
    """A caller's identity from its API key, never the key itself (it is stored with cached results and jobs)."""
    return hashlib.sha256(b"snapshot-tenant:" + key.encode()).hexdigest()[:32]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service.auth", description="Print a signed GET path.")
    parser.add_argument("--key", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--width", required=True)
    parser.add_argument("--height", required=True)
    parser.add_argument("--ttl", type=float, default=3600, help="seconds the URL stays valid")
    parser.add_argument("--path", default=DEFAULT_PATH, help="the endpoint: /create_snap or /create_pdf")
    args = parser.parse_args(argv)
    signed = sign(args.key, {"url": args.url, "width": args.width, "height": args.height}, args.ttl, path=args.path)
    print(args.path + "?" + urlencode(signed, doseq=True))


if __name__ == "__main__":
    main()
