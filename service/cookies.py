"""The ``cookies`` option: ``name=value; Attribute...`` strings as CDP ``Network.CookieParam`` objects,
checked as Chrome would check them (a Domain must contain the target's host; SameSite=None needs
Secure).  Validation (``option_checks``) and the capture (``browsers/steps``) both use this one parser."""

from __future__ import annotations

from typing import Any

_SAME_SITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def _domain_matches(host: str, domain: str) -> bool:
    domain = domain.lower().lstrip(".")
    return host == domain or (host.endswith("." + domain) and not host.replace(".", "").isdigit())


def parse_cookie(raw: str, target_host: str) -> dict[str, Any]:
    """A CDP ``Network.CookieParam`` (without url/domain defaults) from ``name=value; Attr...``."""
    parts = [p.strip() for p in raw.split(";")]
    name, sep, value = parts[0].partition("=")
    if not sep or not name.strip() or any(c in raw for c in "\r\n\x00"):
        raise ValueError("must be `name=value` followed by `; Attribute` pairs")
    cookie: dict[str, Any] = {"name": name.strip(), "value": value.strip()}
    for attribute in parts[1:]:
        if not attribute:
            continue
        key, _, val = attribute.partition("=")
        key = key.strip().lower()
        if key == "domain":
            if not _domain_matches(target_host, val.strip()):
                raise ValueError(f"Domain {val.strip()!r} does not contain the target's host {target_host}")
            cookie["domain"] = val.strip()
        elif key == "path":
            cookie["path"] = val.strip() or "/"
        elif key == "secure":
            cookie["secure"] = True
        elif key == "httponly":
            cookie["httpOnly"] = True
        elif key == "samesite":
            if val.strip().lower() not in _SAME_SITE:
                raise ValueError("SameSite must be Strict, Lax or None")
            cookie["sameSite"] = _SAME_SITE[val.strip().lower()]
        else:
            raise ValueError(f"unknown cookie attribute {key!r}")
    if cookie.get("sameSite") == "None" and not cookie.get("secure"):
        raise ValueError("SameSite=None needs Secure (Chrome refuses such a cookie)")
    return cookie


def cookie_params(cookies: tuple[str, ...], target_host: str, target_url: str) -> list[dict[str, Any]]:
    """``Network.setCookies`` entries: for the target's URL when a cookie names no Domain."""
    params = []
    for raw in cookies:
        cookie = parse_cookie(raw, target_host)
        if "domain" not in cookie:
            cookie["url"] = target_url
        params.append(cookie)
    return params
