"""Typed, fail-fast settings read once from ``SNAPSHOT_*`` environment variables.

Every field of :class:`Settings` names its environment variable and a one-line help text in its
metadata; the README's settings table and the Helm chart's ``config`` values describe the same names
(tests check that they agree).  ``Settings.from_env`` collects every problem and raises one
:class:`SettingsError` listing them all, so a bad deployment fails at start-up with a clear message.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service import config_checks
from service.envvars import PARSERS, SPECIAL, Network, describe


class SettingsError(ValueError):
    """Raised when the environment holds settings that cannot be used."""


def _setting(env: str, default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"env": env, "help": help, "secret": secret}, repr=not secret)


@dataclass(frozen=True)
class Settings:
    # --- server
    host: str = _setting("SNAPSHOT_HOST", "0.0.0.0", "Address the HTTP server binds to.")
    port: int = _setting("SNAPSHOT_PORT", 8080, "Port the HTTP server listens on (`--port` overrides).")
    playground: bool = _setting(
        "SNAPSHOT_PLAYGROUND", True, "Serve the playground at `/` and the API docs at `/docs`; false: both 404."
    )
    log_level: str = _setting("SNAPSHOT_LOG_LEVEL", "INFO", "Log level: DEBUG, INFO, WARNING or ERROR.")
    max_body_size: int = _setting("SNAPSHOT_MAX_BODY_SIZE", 65536, "Largest request body accepted, bytes (413 beyond).")
    shutdown_grace: float = _setting(
        "SNAPSHOT_SHUTDOWN_GRACE", 40.0, "Seconds SIGTERM waits for captures in flight before exiting."
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
    )
    grid_fallback_threshold: int = _setting(
        "SNAPSHOT_GRID_FALLBACK_THRESHOLD", 3, "Grid failures in a row that open the circuit (fallback on)."
    )
    grid_fallback_cooldown: float = _setting(
        "SNAPSHOT_GRID_FALLBACK_COOLDOWN", 30.0, "Seconds the circuit stays open before one capture probes the Grid."
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
        "SNAPSHOT_POOL_SIZE", 2, "Concurrent captures (and browser sessions) on the Grid backend."
    )
    local_pool_size: int = _setting(
        "SNAPSHOT_LOCAL_POOL_SIZE", 2, "Concurrent captures (and browsers) on the local backend."
    )
    queue_size: int = _setting(
        "SNAPSHOT_QUEUE_SIZE", 16, "Captures that may wait for a browser; beyond it requests get 429."
    )
    session_max_uses: int = _setting(
        "SNAPSHOT_SESSION_MAX_USES", 200, "Captures a browser session serves before it is replaced."
    )
    session_max_age: float = _setting(
        "SNAPSHOT_SESSION_MAX_AGE", 900.0, "Seconds a browser session lives before it is replaced."
    )
    session_idle_timeout: float = _setting(
        "SNAPSHOT_SESSION_IDLE_TIMEOUT", 120.0, "Seconds an unused session is kept warm before it is closed."
    )
    capture_timeout: float = _setting(
        "SNAPSHOT_CAPTURE_TIMEOUT", 30.0, "Deadline of one capture, queue time included (504 past it)."
    )
    session_timeout: float = _setting(
        "SNAPSHOT_SESSION_TIMEOUT", 15.0, "Longest wait for a new browser session (503 past it)."
    )
    isolation: str = _setting(
        "SNAPSHOT_ISOLATION",
        "reset",
        "Isolation between captures: `reset` (clear all state after each) or `context` (a new browser context each).",
    )
    page_load_timeout: float = _setting("SNAPSHOT_PAGE_LOAD_TIMEOUT", 20.0, "Longest wait for a page's load event.")
    png_encoding: str = _setting(
        "SNAPSHOT_PNG_ENCODING",
        "speed",
        "How the browser compresses PNGs: `speed` (the same pixels, about 45% more bytes, ~30 ms less CPU) or `size`.",
    )
    # --- request limits
    max_width: int = _setting("SNAPSHOT_MAX_WIDTH", 16384, "Largest width accepted, pixels (Chrome's limit: 16384).")
    max_height: int = _setting("SNAPSHOT_MAX_HEIGHT", 16384, "Largest height accepted, pixels (Chrome's limit: 16384).")
    max_pixels: int = _setting("SNAPSHOT_MAX_PIXELS", 33_554_432, "Largest width x height accepted.")
    max_url_length: int = _setting("SNAPSHOT_MAX_URL_LENGTH", 2048, "Longest target URL accepted.")
    allow_scripts: bool = _setting(
        "SNAPSHOT_ALLOW_SCRIPTS",
        False,
        "Run the `scripts` capture option's JavaScript in pages; off: such requests get 400.",
    )
    max_script_size: int = _setting(
        "SNAPSHOT_MAX_SCRIPT_SIZE", 16384, "Largest `scripts` and `styles` of one capture together, bytes."
    )
    max_selectors: int = _setting(
        "SNAPSHOT_MAX_SELECTORS", 32, "Most `hide_selectors` (and `block_requests` patterns) of one capture."
    )
    max_headers: int = _setting("SNAPSHOT_MAX_HEADERS", 32, "Most `headers` (and `cookies`) of one capture.")
    max_full_page_height: int = _setting(
        "SNAPSHOT_MAX_FULL_PAGE_HEIGHT", 32768, "Tallest full-page capture, CSS pixels; taller pages are cut there."
    )
    max_image_bytes: int = _setting(
        "SNAPSHOT_MAX_IMAGE_BYTES", 50_000_000, "Largest image or PDF a capture may produce, bytes (400 beyond)."
    )
    max_pdf_pages: int = _setting("SNAPSHOT_MAX_PDF_PAGES", 100, "Most pages of a PDF (400 beyond).")
    autoconsent_dir: str = _setting(
        "SNAPSHOT_AUTOCONSENT_DIR",
        ".tools/autoconsent",
        "Directory of @duckduckgo/autoconsent's script and rules (`scripts/setup.sh` fetches them); "
        "missing: `block_cookie_banners` gets 400.",
    )
    egress_proxy: bool = _setting(
        "SNAPSHOT_EGRESS_PROXY",
        True,
        "Route every browser connection through the built-in filtering proxy (checks each address).",
    )
    proxy_host: str = _setting("SNAPSHOT_PROXY_HOST", "127.0.0.1", "Address the filtering proxy binds to.")
    proxy_port: int = _setting("SNAPSHOT_PROXY_PORT", 0, "Port of the filtering proxy; 0: any free port.")
    proxy_url: str | None = _setting(
        "SNAPSHOT_PROXY_URL",
        None,
        "URL browsers use to reach the proxy (Grid nodes: e.g. `http://snapshot-egress:3128`); "
        "unset: http://127.0.0.1:<port>.",
    )
    client_max_in_flight: int = _setting(
        "SNAPSHOT_CLIENT_MAX_IN_FLIGHT", 16, "Captures one client may have in flight (429 beyond); 0: no limit."
    )
    client_rate: float = _setting(
        "SNAPSHOT_CLIENT_RATE", 0.0, "Requests per second one client may send (429 beyond); 0: no limit."
    )
    client_burst: int = _setting("SNAPSHOT_CLIENT_BURST", 20, "Requests one client may send at once under the rate.")
    trust_forwarded_for: bool = _setting(
        "SNAPSHOT_TRUST_FORWARDED_FOR",
        False,
        "Identify clients by the X-Forwarded-For address the proxies in front added (only behind such proxies).",
    )
    forwarded_hops: int = _setting(
        "SNAPSHOT_FORWARDED_HOPS",
        1,
        "Proxies in front of the service that append to X-Forwarded-For; the client is the one the outermost saw.",
    )
    api_keys: tuple[str, ...] = _setting(
        "SNAPSHOT_API_KEYS",
        (),
        "Comma-separated API keys; set: /create_snap needs a key or a signed URL (health and metrics stay open).",
        secret=True,
    )
    max_signed_ttl: int = _setting(
        "SNAPSHOT_MAX_SIGNED_TTL", 604800, "Longest a signed URL may be valid, seconds (`expires` further ahead: 401)."
    )
    deny_networks: tuple[Network, ...] = _setting(
        "SNAPSHOT_DENY_NETWORKS", (), "Comma-separated CIDRs captures may never reach, even if public or allowed."
    )
    allow_networks: tuple[Network, ...] = _setting(
        "SNAPSHOT_ALLOW_NETWORKS",
        (),
        "Comma-separated CIDRs captures may reach although they are not public addresses.",
    )
    # --- storage
    s3_bucket: str | None = _setting("SNAPSHOT_S3_BUCKET", None, "S3 bucket for POST results; unset: local files.")
    s3_endpoint_url: str | None = _setting(
        "SNAPSHOT_S3_ENDPOINT_URL", None, "Endpoint of an S3-compatible store; unset: AWS."
    )
    s3_region: str | None = _setting("SNAPSHOT_S3_REGION", None, "S3 region; unset: the AWS default chain.")
    s3_prefix: str = _setting("SNAPSHOT_S3_PREFIX", "", "Key prefix for stored PNGs (e.g. `snaps/`).")
    s3_public_url_template: str | None = _setting(
        "SNAPSHOT_S3_PUBLIC_URL_TEMPLATE",
        None,
        "Public `file_url` template with `{bucket}` and `{key}`; unset: presigned GET URLs.",
    )
    s3_presign_expires: int = _setting(
        "SNAPSHOT_S3_PRESIGN_EXPIRES", 3600, "Lifetime of a `file_url` (presigned on S3, signed when local), seconds."
    )
    s3_timeout: float = _setting("SNAPSHOT_S3_TIMEOUT", 5.0, "Connect and read timeout of each S3 call, seconds.")
    local_storage_dir: str = _setting(
        "SNAPSHOT_LOCAL_STORAGE_DIR", "snapshots", "Directory for POST results when no bucket is set."
    )
    local_file_ttl: int = _setting(
        "SNAPSHOT_LOCAL_FILE_TTL", 86400, "Seconds a locally stored result is kept before it is removed."
    )
    public_base_url: str | None = _setting(
        "SNAPSHOT_PUBLIC_BASE_URL", None, "Base of local `file_url`s; unset: built from the request's host."
    )
    # --- delivery: cache, async jobs, webhooks
    cache_max_ttl: int = _setting("SNAPSHOT_CACHE_MAX_TTL", 86400, "Largest `cache_ttl` a request may ask, seconds.")
    redis_url: str | None = _setting(
        "SNAPSHOT_REDIS_URL",
        None,
        "Redis shared by the replicas (`redis://host:6379/0`): async jobs any replica can finish, and one render "
        "for identical requests across replicas; unset: jobs live in the process.",
        secret=True,
    )
    job_queue_size: int = _setting(
        "SNAPSHOT_JOB_QUEUE_SIZE", 1000, "Async jobs that may wait to run (all replicas); beyond it 429."
    )
    job_workers: int = _setting("SNAPSHOT_JOB_WORKERS", 2, "Async jobs this replica captures at once.")
    job_owner_limit: int = _setting(
        "SNAPSHOT_JOB_OWNER_LIMIT",
        100,
        "Unfinished async jobs one API key (without keys: one client address) may have; beyond it 429.",
    )
    job_retained: int = _setting(
        "SNAPSHOT_JOB_RETAINED",
        1000,
        "Finished jobs kept per API key or client address (for SNAPSHOT_JOB_TTL); older ones are dropped.",
    )
    job_secret_key: str | None = _setting(
        "SNAPSHOT_JOB_SECRET_KEY",
        None,
        "Key (32+ characters) encrypting queued jobs' `headers` and `cookies`; unset with Redis: such jobs get 400.",
        secret=True,
    )
    job_ttl: int = _setting("SNAPSHOT_JOB_TTL", 86400, "Seconds a finished job stays readable at /jobs/{id}.")
    job_visibility_timeout: float = _setting(
        "SNAPSHOT_JOB_VISIBILITY_TIMEOUT",
        60.0,
        "Seconds without a heartbeat after which another replica takes over a job (Redis only).",
    )
    webhook_secret: str | None = _setting(
        "SNAPSHOT_WEBHOOK_SECRET",
        None,
        "Standard Webhooks signing secret, `whsec_<base64>`; unset: `webhook_url` gets 400.",
        secret=True,
    )
    webhook_attempts: int = _setting("SNAPSHOT_WEBHOOK_ATTEMPTS", 6, "Delivery attempts of one webhook.")
    webhook_backoff: float = _setting(
        "SNAPSHOT_WEBHOOK_BACKOFF", 2.0, "Seconds before the second attempt; doubling, with jitter, up to 300."
    )
    webhook_timeout: float = _setting(
        "SNAPSHOT_WEBHOOK_TIMEOUT", 10.0, "Seconds one webhook attempt may take, from resolving to the answer."
    )
    webhook_concurrency: int = _setting(
        "SNAPSHOT_WEBHOOK_CONCURRENCY", 8, "Webhook attempts this replica makes at once (one tenant: half of them)."
    )
    webhook_ports: tuple[int, ...] = _setting(
        "SNAPSHOT_WEBHOOK_PORTS", (80, 443), "Comma-separated ports a `webhook_url` may use; empty: any port."
    )
    webhook_allow_networks: tuple[Network, ...] = _setting(
        "SNAPSHOT_WEBHOOK_ALLOW_NETWORKS",
        (),
        "Comma-separated CIDRs webhooks may reach although they are not public (apart from "
        "`SNAPSHOT_ALLOW_NETWORKS`, which is for captures).",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in dataclasses.fields(cls):
            env = f.metadata["env"]
            if env not in environ:
                continue
            parse = SPECIAL.get(f.name) or PARSERS[str(f.type)]
            raw = environ[env]
            try:
                values[f.name] = parse(raw)
            except ValueError as exc:
                shown = "***" if f.metadata["secret"] else repr(raw)
                reason = str(exc) if not str(exc).startswith("invalid literal") else f"must be {f.type}"
                problems.append(f"{env}={shown}: {reason}")
        values.update(overrides)
        try:
            settings = cls(**values)
        except TypeError as exc:  # pragma: no cover - programming error in overrides
            raise SettingsError(str(exc)) from None
        problems.extend(config_checks.problems(settings))
        if problems:
            raise SettingsError("invalid configuration:\n  " + "\n  ".join(problems))
        return settings

    @property
    def client_hops(self) -> int:
        """The X-Forwarded-For entries to trust: none unless ``trust_forwarded_for``."""
        return self.forwarded_hops if self.trust_forwarded_for else 0

    @property
    def grid_auth(self) -> tuple[str, str] | None:
        if self.grid_username is None:
            return None
        return self.grid_username, self.grid_password or ""


def settings_table() -> list[tuple[str, str, str]]:
    """(env name, default, help) for every setting: the source of the settings table and the chart schema."""
    return describe(Settings)
