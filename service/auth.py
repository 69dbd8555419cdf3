"""API keys (optional, ``SNAPSHOT_API_KEYS``) and HMAC-signed GET URLs for ``<img>`` embedding.

A request is allowed with a key in ``X-API-Key`` or ``Authorization: Bearer``, or - for GET - with
``expires`` (unix time) and ``signature`` query parameters: the hex HMAC-SHA256, under any configured
key, of the canonical query (every parameter but ``signature``, options included, as sorted
``name=value`` pairs, URL-encoded).  Compare in constant time; an expired or altered URL is refused,
and so is one with a parameter added.

    python -m service.auth --key KEY --url https://example.com --width 800 --height 600 --ttl 3600
prints a signed ``/create_snap?...`` path.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from service.capture import Outcome
from service.errors import SnapshotError

Params = Mapping[str, str | Sequence[str]]
_UNSIGNED = ("signature", "")  # "": the `?=,` of the published POST example


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
    return urlencode(sorted(_pairs(params)))


def _last(params: Params, name: str) -> str:
    values = params.get(name, "")
    return values if isinstance(values, str) else (values[-1] if values else "")


def signature(key: str, params: Params) -> str:
    return hmac.new(key.encode(), canonical_query(params).encode(), hashlib.sha256).hexdigest()


def sign(key: str, params: Mapping[str, str], ttl: float, now: float | None = None) -> dict[str, str]:
    """``params`` plus ``expires`` and ``signature``."""
    signed = {k: str(v) for k, v in params.items()}
    signed["expires"] = str(int((now if now is not None else time.time()) + ttl))
    signed["signature"] = signature(key, signed)
    return signed


class ApiKeys:
    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def check(self, headers: Mapping[str, str], params: Params, *, method: str, now: float | None = None) -> str:
        """The caller's identity: a digest of the key it used or that signed its URL ("" when keys are
        off).  Raises :class:`Unauthorized` unless the request carries a valid key or signature."""
        if not self.keys:
            return ""
        given = headers.get("X-API-Key") or ""
        auth = headers.get("Authorization") or ""
        if not given and auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        if given:
            for key in self.keys:
                if hmac.compare_digest(given.encode(), key.encode()):
                    return tenant_of(key)
            raise Unauthorized("the API key is not valid")
        if method in ("GET", "HEAD") and "signature" in params:
            expires = _last(params, "expires")
            if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
                raise Unauthorized("the signed URL has expired or has no valid expires parameter")
            given_signature = _last(params, "signature").encode()
            for key in self.keys:
                if hmac.compare_digest(given_signature, signature(key, params).encode()):
                    return tenant_of(key)
            raise Unauthorized("the URL's signature is not valid")
        raise Unauthorized("an API key is required (X-API-Key or Authorization: Bearer), or a signed URL")


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
    args = parser.parse_args(argv)
    signed = sign(args.key, {"url": args.url, "width": args.width, "height": args.height}, args.ttl)
    print("/create_snap?" + urlencode(signed))


if __name__ == "__main__":
    main()
