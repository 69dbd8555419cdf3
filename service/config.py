"""Typed, fail-fast settings read once from ``SNAPSHOT_*`` environment variables.

Every field of :class:`Settings` names its environment variable and a one-line help text in its
metadata; the README's settings table and the Helm chart's ``config`` values describe the same names
(tests check that they agree).  ``Settings.from_env`` collects every problem and raises one
:class:`SettingsError` listing them all, so a bad deployment fails at start-up with a clear message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.config_delivery import DeliverySettings
from service.config_egress import EgressSettings
from service.envvars import Network, describe, read, whsec
from service.envvars import setting as _setting
from service.option_emulation import is_locale, is_timezone
from service.tracing import TARGET_URL_DETAIL

# what the settings below choose among
PNG_ENCODINGS = ("speed", "size")
ISOLATION_MODES = ("reset", "context")  # service/browsers/isolation.py implements each


class SettingsError(ValueError):
    """Raised when the environment holds settings that cannot be used."""


@dataclass(frozen=True)
class Settings(EgressSettings, DeliverySettings):
    """Every setting: these, where results go and how they are delivered (``DeliverySettings``), and how
    browsers reach the network and who may use the service (``EgressSettings``)."""

    # --- server
    host: str = _setting("SNAPSHOT_HOST", "0.0.0.0", "Address the HTTP server binds to.")
    port: int = _setting(
        "SNAPSHOT_PORT", 8080, "Port the HTTP server listens on (`--port` overrides).", minimum=1, maximum=65535
    )
    playground: bool = _setting(
        "SNAPSHOT_PLAYGROUND", True, "Serve the playground at `/` and the API docs at `/docs`; false: both 404."
    )
    log_level: str = _setting(
        "SNAPSHOT_LOG_LEVEL",
        "INFO",
        "Log level: DEBUG, INFO, WARNING or ERROR.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    )
    trace_target_urls: str = _setting(
        "SNAPSHOT_TRACE_TARGET_URLS",
        "host",
        "What trace spans say of a capture's target URL (tracing is on with `OTEL_EXPORTER_OTLP_ENDPOINT`): its "
        "`host` (as the log), its `path` too, or `full` (its query too). Never credentials.",
        choices=TARGET_URL_DETAIL,
    )
    max_body_size: int = _setting(
        "SNAPSHOT_MAX_BODY_SIZE", 65536, "Largest request body accepted, bytes (413 beyond).", minimum=1
    )
    shutdown_grace: float = _setting(
        "SNAPSHOT_SHUTDOWN_GRACE", 40.0, "Seconds SIGTERM waits for captures in flight before exiting.", above=0
    )
    # --- capture backend
    grid_url: str | None = _setting(
        "SNAPSHOT_GRID_URL", None, "Selenium Grid URL (e.g. `http://grid:4444`); unset: every capture runs locally."
    )
    grid_username: str | None = _setting(
        "SNAPSHOT_GRID_USERNAME", None, "User for the Grid's basic auth; unset: no auth."
    )
    grid_password: str | None = _setting(
        "SNAPSHOT_GRID_PASSWORD", None, "Password for the Grid's basic auth.", secret=True
    )
    platform_name: str = _setting(
        "SNAPSHOT_PLATFORM_NAME", "linux", "`platformName` asked of the Grid (the autoscaler matches on it)."
    )
    grid_registration_secret: str = _setting(
        "SNAPSHOT_GRID_REGISTRATION_SECRET",
        "",
        "The Grid's registration secret: lets the service remove a node that died (empty: the Grid has none).",
        secret=True,
    )
    grid_fallback: str = _setting(
        "SNAPSHOT_GRID_FALLBACK",
        "",
        "`local`: while the Grid keeps failing, capture on the local backend (a circuit breaker); empty: off.",
        choices=("", "local"),
    )
    grid_fallback_threshold: int = _setting(
        "SNAPSHOT_GRID_FALLBACK_THRESHOLD", 3, "Grid failures in a row that open the circuit (fallback on).", minimum=1
    )
    grid_fallback_cooldown: float = _setting(
        "SNAPSHOT_GRID_FALLBACK_COOLDOWN",
        30.0,
        "Seconds the circuit stays open before one capture probes the Grid.",
        above=0,
    )
    browser_version: str = _setting(
        "SNAPSHOT_BROWSER_VERSION", "", "`browserVersion` asked of the Grid; empty: any version."
    )
    allow_localmode: bool = _setting(
        "SNAPSHOT_ALLOW_LOCALMODE", True, "Honour `localmode=true` from clients; false: such requests get 403."
    )
    chromedriver_path: str = _setting(
        "SNAPSHOT_CHROMEDRIVER_PATH", "/usr/bin/chromedriver", "ChromeDriver for local captures."
    )
    chromium_path: str = _setting("SNAPSHOT_CHROMIUM_PATH", "/usr/bin/chromium", "Chromium for local captures.")
    chrome_sandbox: bool = _setting(
        "SNAPSHOT_CHROME_SANDBOX",
        False,
        "Run Chromium's own sandbox (no `--no-sandbox`): needs a non-root user and a seccomp profile that "
        "allows user namespaces (RuntimeDefault does not; see docs/operations.md).",
    )
    pool_size: int = _setting(
        "SNAPSHOT_POOL_SIZE", 2, "Concurrent captures (and browser sessions) on the Grid backend.", minimum=1
    )
    local_pool_size: int = _setting(
        "SNAPSHOT_LOCAL_POOL_SIZE", 2, "Concurrent captures (and browsers) on the local backend.", minimum=1
    )
    queue_size: int = _setting(
        "SNAPSHOT_QUEUE_SIZE", 16, "Captures that may wait for a browser; beyond it requests get 429.", minimum=0
    )
    session_max_uses: int = _setting(
        "SNAPSHOT_SESSION_MAX_USES", 200, "Captures a browser session serves before it is replaced.", minimum=1
    )
    session_max_age: float = _setting(
        "SNAPSHOT_SESSION_MAX_AGE", 900.0, "Seconds a browser session lives before it is replaced.", above=0
    )
    session_idle_timeout: float = _setting(
        "SNAPSHOT_SESSION_IDLE_TIMEOUT", 120.0, "Seconds an unused session is kept warm before it is closed.", above=0
    )
    capture_timeout: float = _setting(
        "SNAPSHOT_CAPTURE_TIMEOUT", 30.0, "Deadline of one capture, queue time included (504 past it).", above=0
    )
    session_timeout: float = _setting(
        "SNAPSHOT_SESSION_TIMEOUT", 15.0, "Longest wait for a new browser session (503 past it).", above=0
    )
    isolation: str = _setting(
        "SNAPSHOT_ISOLATION",
        "reset",
        "Isolation between captures: `reset` (clear all state after each) or `context` (a new browser context each).",
        choices=ISOLATION_MODES,
    )
    page_load_timeout: float = _setting(
        "SNAPSHOT_PAGE_LOAD_TIMEOUT", 20.0, "Longest wait for a page's load event.", above=0
    )
    png_encoding: str = _setting(
        "SNAPSHOT_PNG_ENCODING",
        "speed",
        "How the browser compresses PNGs: `speed` (the same pixels in more bytes, for less CPU) or `size`.",
        choices=PNG_ENCODINGS,
    )
    # --- request limits
    max_width: int = _setting(
        "SNAPSHOT_MAX_WIDTH", 16384, "Largest width accepted, pixels (Chrome's limit: 16384).", minimum=1, maximum=16384
    )
    max_height: int = _setting(
        "SNAPSHOT_MAX_HEIGHT",
        16384,
        "Largest height accepted, pixels (Chrome's limit: 16384).",
        minimum=1,
        maximum=16384,
    )
    max_pixels: int = _setting("SNAPSHOT_MAX_PIXELS", 33_554_432, "Largest width x height accepted.", minimum=1)
    max_url_length: int = _setting("SNAPSHOT_MAX_URL_LENGTH", 2048, "Longest target URL accepted.", minimum=1)
    allow_scripts: bool = _setting(
        "SNAPSHOT_ALLOW_SCRIPTS",
        False,
        "Run the `scripts` capture option's JavaScript in pages; off: such requests get 400.",
    )
    max_html_bytes: int = _setting(
        "SNAPSHOT_MAX_HTML_BYTES",
        5_242_880,
        "Largest `html` or `markdown` body of one capture, bytes (413 beyond; request bodies may be this much "
        "larger than SNAPSHOT_MAX_BODY_SIZE).",
        minimum=1,
    )
    max_script_size: int = _setting(
        "SNAPSHOT_MAX_SCRIPT_SIZE", 16384, "Largest `scripts` and `styles` of one capture together, bytes.", minimum=1
    )
    max_selectors: int = _setting(
        "SNAPSHOT_MAX_SELECTORS", 32, "Most `hide_selectors` (and `block_requests` patterns) of one capture.", minimum=1
    )
    max_headers: int = _setting("SNAPSHOT_MAX_HEADERS", 32, "Most `headers` (and `cookies`) of one capture.", minimum=1)
    max_full_page_height: int = _setting(
        "SNAPSHOT_MAX_FULL_PAGE_HEIGHT",
        32768,
        "Tallest full-page capture, CSS pixels; taller pages are cut there.",
        minimum=1,
    )
    max_shot_pixels: int = _setting(
        "SNAPSHOT_MAX_SHOT_PIXELS",
        67_108_864,
        "Most device pixels asked of the browser in one screenshot: larger full pages and regions are taken in "
        "tiles and stitched here (Chromium 156 is exact to about 100 million).",
        minimum=1_000_000,
    )
    max_image_bytes: int = _setting(
        "SNAPSHOT_MAX_IMAGE_BYTES",
        50_000_000,
        "Largest image or PDF a capture may produce, bytes (400 beyond).",
        minimum=1,
    )
    max_pdf_pages: int = _setting(
        "SNAPSHOT_MAX_PDF_PAGES", 100, "Most pages of a PDF, a merged one's too (400 beyond).", minimum=1
    )
    max_pdf_urls: int = _setting(
        "SNAPSHOT_MAX_PDF_URLS", 10, "Most `urls` of one /create_pdf, merged into one document.", minimum=1
    )
    autoconsent_dir: str = _setting(
        "SNAPSHOT_AUTOCONSENT_DIR",
        ".tools/autoconsent",
        "Directory of @duckduckgo/autoconsent's script and rules (`scripts/setup.sh` fetches them); "
        "missing: `block_cookie_banners` gets 400.",
    )
    devices_file: str = _setting(
        "SNAPSHOT_DEVICES_FILE",
        ".tools/playwright-devices/deviceDescriptorsSource.json",
        "Playwright's device registry (npm playwright-core's `deviceDescriptorsSource.json`; `scripts/setup.sh` "
        "fetches it); missing: `device` gets 400.",
    )
    default_timezone: str = _setting(
        "SNAPSHOT_DEFAULT_TIMEZONE", "UTC", "IANA time zone pages see when a capture names none (Grid and local)."
    )
    default_locale: str = _setting(
        "SNAPSHOT_DEFAULT_LOCALE", "en-US", "BCP 47 locale pages see when a capture names none (Grid and local)."
    )
    client_max_in_flight: int = _setting(
        "SNAPSHOT_CLIENT_MAX_IN_FLIGHT",
        16,
        "Captures one client may have in flight (429 beyond); 0: no limit.",
        minimum=0,
    )
    client_rate: float = _setting(
        "SNAPSHOT_CLIENT_RATE", 0.0, "Requests per second one client may send (429 beyond); 0: no limit.", minimum=0
    )
    client_burst: int = _setting(
        "SNAPSHOT_CLIENT_BURST", 20, "Requests one client may send at once under the rate.", minimum=1
    )
    trust_forwarded_for: bool = _setting(
        "SNAPSHOT_TRUST_FORWARDED_FOR",
        False,
        "Identify clients by the X-Forwarded-For address the proxies in front added (only behind such proxies).",
    )
    forwarded_hops: int = _setting(
        "SNAPSHOT_FORWARDED_HOPS",
        1,
        "Proxies in front of the service that append to X-Forwarded-For; the client is the one the outermost saw.",
        minimum=1,
    )
    api_keys: tuple[str, ...] = _setting(
        "SNAPSHOT_API_KEYS",
        (),
        "Comma-separated API keys; set: /create_snap needs a key or a signed URL (health and metrics stay open).",
        secret=True,
    )
    max_signed_ttl: int = _setting(
        "SNAPSHOT_MAX_SIGNED_TTL",
        604800,
        "Longest a signed URL may be valid, seconds (`expires` further ahead: 401).",
        minimum=1,
    )
    deny_networks: tuple[Network, ...] = _setting(
        "SNAPSHOT_DENY_NETWORKS", (), "Comma-separated CIDRs captures may never reach, even if public or allowed."
    )
    allow_networks: tuple[Network, ...] = _setting(
        "SNAPSHOT_ALLOW_NETWORKS",
        (),
        "Comma-separated CIDRs captures may reach although they are not public addresses.",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        try:
            settings, problems = read(cls, os.environ if environ is None else environ, overrides, _rules)
        except TypeError as exc:  # pragma: no cover - programming error in overrides
            raise SettingsError(str(exc)) from None
        if problems:
            raise SettingsError("invalid configuration:\n  " + "\n  ".join(problems))
        return settings

    @property
    def max_capture_body(self) -> int:
        """The largest body of a capture request: its parameters, and an html or markdown body."""
        return self.max_body_size + self.max_html_bytes

    @property
    def client_hops(self) -> int:
        """The X-Forwarded-For entries to trust: none unless ``trust_forwarded_for``."""
        return self.forwarded_hops if self.trust_forwarded_for else 0

    @property
    def grid_auth(self) -> tuple[str, str] | None:
        if self.grid_username is None:
            return None
        return self.grid_username, self.grid_password or ""


def _rules(settings: Settings) -> list[str]:
    """What depends on several settings, or on a value's form beyond its declared limits."""
    found: list[str] = []

    def need(ok: bool, env: str, text: str) -> None:
        if not ok:
            found.append(f"{env}: {text}")

    need(settings.job_secret_key is None or len(settings.job_secret_key) >= 32, "SNAPSHOT_JOB_SECRET_KEY",
         "must be at least 32 characters")  # fmt: skip
    need(all(0 < p < 65536 for p in settings.webhook_ports), "SNAPSHOT_WEBHOOK_PORTS", "must be ports 1 to 65535")
    need((settings.grid_username is None) == (settings.grid_password is None), "SNAPSHOT_GRID_USERNAME",
         "SNAPSHOT_GRID_USERNAME and SNAPSHOT_GRID_PASSWORD go together")  # fmt: skip
    need(settings.webhook_secret is None or whsec(settings.webhook_secret), "SNAPSHOT_WEBHOOK_SECRET",
         "must be whsec_ followed by the base64 of 24 to 64 random bytes")  # fmt: skip
    need(is_timezone(settings.default_timezone), "SNAPSHOT_DEFAULT_TIMEZONE", "must be an IANA time zone")
    need(is_locale(settings.default_locale), "SNAPSHOT_DEFAULT_LOCALE", "must be a BCP 47 language tag")
    template = settings.s3_public_url_template
    need(template is None or "{key}" in template, "SNAPSHOT_S3_PUBLIC_URL_TEMPLATE", "must contain {key}")
    return found


def settings_table() -> list[tuple[str, str, str]]:
    """(env name, default, help) for every setting: the source of the settings table and the chart schema."""
    return describe(Settings)
