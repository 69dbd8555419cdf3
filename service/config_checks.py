"""The checks ``Settings.from_env`` runs once every value has parsed (ranges, pairs, formats)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.browsers.isolation import ISOLATIONS
from service.envvars import whsec

if TYPE_CHECKING:
    from service.config import Settings

PNG_ENCODINGS = ("speed", "size")


def problems(settings: Settings) -> list[str]:
    """Every problem of settings whose values each parsed: out of range, contradictory, malformed."""
    found: list[str] = []

    def need(ok: bool, env: str, text: str) -> None:
        if not ok:
            found.append(f"{env}: {text}")

    need(0 < settings.port < 65536, "SNAPSHOT_PORT", "must be between 1 and 65535")
    need(0 <= settings.proxy_port < 65536, "SNAPSHOT_PROXY_PORT", "must be between 0 and 65535")
    need(settings.job_secret_key is None or len(settings.job_secret_key) >= 32, "SNAPSHOT_JOB_SECRET_KEY",
         "must be at least 32 characters")  # fmt: skip
    need(all(0 < p < 65536 for p in settings.webhook_ports), "SNAPSHOT_WEBHOOK_PORTS", "must be ports 1 to 65535")
    need(
        settings.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
        "SNAPSHOT_LOG_LEVEL",
        "must be DEBUG, INFO, WARNING or ERROR",
    )
    for env, value in [
        ("SNAPSHOT_POOL_SIZE", settings.pool_size),
        ("SNAPSHOT_LOCAL_POOL_SIZE", settings.local_pool_size),
        ("SNAPSHOT_SESSION_MAX_USES", settings.session_max_uses),
        ("SNAPSHOT_MAX_BODY_SIZE", settings.max_body_size),
        ("SNAPSHOT_MAX_URL_LENGTH", settings.max_url_length),
        ("SNAPSHOT_MAX_PIXELS", settings.max_pixels),
        ("SNAPSHOT_S3_PRESIGN_EXPIRES", settings.s3_presign_expires),
        ("SNAPSHOT_MAX_SCRIPT_SIZE", settings.max_script_size),
        ("SNAPSHOT_MAX_SELECTORS", settings.max_selectors),
        ("SNAPSHOT_MAX_HEADERS", settings.max_headers),
        ("SNAPSHOT_MAX_FULL_PAGE_HEIGHT", settings.max_full_page_height),
        ("SNAPSHOT_MAX_IMAGE_BYTES", settings.max_image_bytes),
        ("SNAPSHOT_MAX_PDF_PAGES", settings.max_pdf_pages),
        ("SNAPSHOT_JOB_QUEUE_SIZE", settings.job_queue_size),
        ("SNAPSHOT_JOB_WORKERS", settings.job_workers),
        ("SNAPSHOT_JOB_TTL", settings.job_ttl),
        ("SNAPSHOT_WEBHOOK_ATTEMPTS", settings.webhook_attempts),
        ("SNAPSHOT_MAX_SIGNED_TTL", settings.max_signed_ttl),
        ("SNAPSHOT_WEBHOOK_CONCURRENCY", settings.webhook_concurrency),
        ("SNAPSHOT_FORWARDED_HOPS", settings.forwarded_hops),
        ("SNAPSHOT_JOB_OWNER_LIMIT", settings.job_owner_limit),
        ("SNAPSHOT_JOB_RETAINED", settings.job_retained),
        ("SNAPSHOT_LOCAL_FILE_TTL", settings.local_file_ttl),
    ]:
        need(value >= 1, env, "must be at least 1")
    need(settings.queue_size >= 0, "SNAPSHOT_QUEUE_SIZE", "must be 0 or more")
    need(settings.client_max_in_flight >= 0, "SNAPSHOT_CLIENT_MAX_IN_FLIGHT", "must be 0 or more")
    need(settings.client_rate >= 0, "SNAPSHOT_CLIENT_RATE", "must be 0 or more")
    need(settings.client_burst >= 1, "SNAPSHOT_CLIENT_BURST", "must be at least 1")
    for env, seconds in [
        ("SNAPSHOT_CAPTURE_TIMEOUT", settings.capture_timeout),
        ("SNAPSHOT_SESSION_TIMEOUT", settings.session_timeout),
        ("SNAPSHOT_PAGE_LOAD_TIMEOUT", settings.page_load_timeout),
        ("SNAPSHOT_SESSION_MAX_AGE", settings.session_max_age),
        ("SNAPSHOT_SESSION_IDLE_TIMEOUT", settings.session_idle_timeout),
        ("SNAPSHOT_S3_TIMEOUT", settings.s3_timeout),
        ("SNAPSHOT_SHUTDOWN_GRACE", settings.shutdown_grace),
        ("SNAPSHOT_JOB_VISIBILITY_TIMEOUT", settings.job_visibility_timeout),
        ("SNAPSHOT_WEBHOOK_BACKOFF", settings.webhook_backoff),
        ("SNAPSHOT_WEBHOOK_TIMEOUT", settings.webhook_timeout),
    ]:
        need(seconds > 0, env, "must be a positive number of seconds")
    need(settings.grid_fallback in ("", "local"), "SNAPSHOT_GRID_FALLBACK", "must be empty or local")
    need(settings.grid_fallback_threshold >= 1, "SNAPSHOT_GRID_FALLBACK_THRESHOLD", "must be at least 1")
    need(settings.grid_fallback_cooldown > 0, "SNAPSHOT_GRID_FALLBACK_COOLDOWN", "must be a positive number of seconds")
    need(settings.png_encoding in PNG_ENCODINGS, "SNAPSHOT_PNG_ENCODING", "must be " + " or ".join(PNG_ENCODINGS))
    need(settings.isolation in ISOLATIONS, "SNAPSHOT_ISOLATION", "must be " + " or ".join(ISOLATIONS))
    need(1 <= settings.max_width <= 16384, "SNAPSHOT_MAX_WIDTH", "must be between 1 and 16384")
    need(1 <= settings.max_height <= 16384, "SNAPSHOT_MAX_HEIGHT", "must be between 1 and 16384")
    need(
        (settings.grid_username is None) == (settings.grid_password is None),
        "SNAPSHOT_GRID_USERNAME",
        "SNAPSHOT_GRID_USERNAME and SNAPSHOT_GRID_PASSWORD go together",
    )
    need(settings.cache_max_ttl >= 0, "SNAPSHOT_CACHE_MAX_TTL", "must be 0 or more")
    need(
        settings.webhook_secret is None or whsec(settings.webhook_secret),
        "SNAPSHOT_WEBHOOK_SECRET",
        "must be whsec_ followed by the base64 of 24 to 64 random bytes",
    )
    if settings.s3_public_url_template is not None:
        need(
            "{key}" in settings.s3_public_url_template,
            "SNAPSHOT_S3_PUBLIC_URL_TEMPLATE",
            "must contain {key}",
        )
    return found
