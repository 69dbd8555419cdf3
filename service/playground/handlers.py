"""The playground's and the docs' handlers: two pages rendered once at start-up, and their static
files with cache headers.  Every page answer carries a strict Content-Security-Policy: scripts and
styles from the service only (Swagger UI also sets inline styles), requests to the service only."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

import tornado.web
from swagger_ui_bundle import swagger_ui_path

from service import __version__
from service.config import Settings
from service.playground.form import form_html
from service.web import BaseHandler, JsonErrors

STATIC = Path(__file__).resolve().parent / "static"
SWAGGER = Path(str(swagger_ui_path))

_COMMON = "default-src 'none'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
CSP = {
    "playground": f"{_COMMON}; script-src 'self'; style-src 'self'; img-src 'self' blob: data:",
    "docs": f"{_COMMON}; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:",
}
SWAGGER_FILES = (
    "swagger-ui.css",
    "index.css",
    "favicon-32x32.png",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
)
_HARDENING = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def render_pages(settings: Settings) -> dict[str, bytes]:
    """The playground and docs pages, from their templates."""
    api_keys = bool(settings.api_keys)
    values = {
        "@VERSION@": __version__,
        "@API_KEYS@": "true" if api_keys else "false",
        "@API_KEYS_HELP@": escape(
            "This service requires an API key."
            if api_keys
            else "This service takes requests without a key; a key is sent when given."
        ),
        "@FORM@": form_html(settings),
    }
    pages = {}
    for name in ("playground", "docs"):
        text = (STATIC / f"{name}.html").read_text()
        for marker, value in values.items():
            text = text.replace(marker, value)
        pages[name] = text.encode()
    return pages


class PageHandler(BaseHandler):
    """``GET /`` (the playground) and ``GET /docs``."""

    page: str
    body: bytes

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", CSP[self.page])
        for name, value in _HARDENING.items():
            self.set_header(name, value)
        self.set_header("Cache-Control", "no-cache")
        self.finish(self.body)


class StaticHandler(JsonErrors, tornado.web.StaticFileHandler):
    """The pages' scripts and styles: a year in caches when the URL is versioned (``?v=``), a day otherwise."""

    handler_name = "static"

    def initialize(self, path: str, default_filename: str | None = None, **_: Any) -> None:  # type: ignore[override]
        super().initialize(path, default_filename)

    def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
        return 365 * 86400 if "v" in self.request.arguments else 86400

    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        self.set_header("Cache-Control", f"public, max-age={self.get_cache_time(path, None, '')}")


def routes(settings: Settings) -> list[Any]:
    pages = render_pages(settings)
    return [
        (r"/", PageHandler, {"page": "playground", "body": pages["playground"], "handler_name": "playground"}),
        (r"/docs", PageHandler, {"page": "docs", "body": pages["docs"], "handler_name": "docs"}),
        (r"/static/(playground\.js|playground\.css|docs-init\.js)", StaticHandler, {"path": str(STATIC)}),
        # only what /docs loads: not Swagger UI's own index.html, OAuth2 redirect page or source maps
        (
            r"/docs/static/(" + "|".join(re.escape(name) for name in SWAGGER_FILES) + ")",
            StaticHandler,
            {"path": str(SWAGGER)},
        ),  # fmt: skip
    ]
