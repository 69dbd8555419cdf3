"""The settings of where results go and how they reach clients: storage (S3 or local files), the cache,
async jobs and webhooks.  ``service.config.Settings`` has them with every other setting."""

from __future__ import annotations

from dataclasses import dataclass

from service.envvars import Network
from service.envvars import setting as _setting


@dataclass(frozen=True)
class DeliverySettings:
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
        "SNAPSHOT_S3_PRESIGN_EXPIRES",
        3600,
        "Lifetime of a `file_url` (presigned on S3, signed when local), seconds.",
        minimum=1,
    )
    s3_timeout: float = _setting(
        "SNAPSHOT_S3_TIMEOUT", 5.0, "Connect and read timeout of each S3 call, seconds.", above=0
    )
    local_storage_dir: str = _setting(
        "SNAPSHOT_LOCAL_STORAGE_DIR", "snapshots", "Directory for POST results when no bucket is set."
    )
    local_file_ttl: int = _setting(
        "SNAPSHOT_LOCAL_FILE_TTL", 86400, "Seconds a locally stored result is kept before it is removed.", minimum=1
    )
    public_base_url: str | None = _setting(
        "SNAPSHOT_PUBLIC_BASE_URL", None, "Base of local `file_url`s; unset: built from the request's host."
    )
    # --- delivery: cache, async jobs, webhooks
    cache_max_ttl: int = _setting(
        "SNAPSHOT_CACHE_MAX_TTL", 86400, "Largest `cache_ttl` a request may ask, seconds.", minimum=0
    )
    redis_url: str | None = _setting(
        "SNAPSHOT_REDIS_URL",
        None,
        "Redis shared by the replicas (`redis://host:6379/0`): async jobs any replica can finish, and one render "
        "for identical requests across replicas; unset: jobs live in the process.",
        secret=True,
    )
    job_queue_size: int = _setting(
        "SNAPSHOT_JOB_QUEUE_SIZE", 1000, "Async jobs that may wait to run (all replicas); beyond it 429.", minimum=1
    )
    job_workers: int = _setting("SNAPSHOT_JOB_WORKERS", 2, "Async jobs this replica captures at once.", minimum=1)
    job_owner_limit: int = _setting(
        "SNAPSHOT_JOB_OWNER_LIMIT",
        100,
        "Unfinished async jobs one API key (without keys: one client address) may have; beyond it 429.",
        minimum=1,
    )
    job_retained: int = _setting(
        "SNAPSHOT_JOB_RETAINED",
        1000,
        "Finished jobs kept per API key or client address (for SNAPSHOT_JOB_TTL); older ones are dropped.",
        minimum=1,
    )
    job_secret_key: str | None = _setting(
        "SNAPSHOT_JOB_SECRET_KEY",
        None,
        "Key (32+ characters) encrypting queued jobs' `headers` and `cookies`; unset with Redis: such jobs get 400.",
        secret=True,
    )
    job_ttl: int = _setting(
        "SNAPSHOT_JOB_TTL", 86400, "Seconds a finished job stays readable at /jobs/{id}.", minimum=1
    )
    job_visibility_timeout: float = _setting(
        "SNAPSHOT_JOB_VISIBILITY_TIMEOUT",
        60.0,
        "Seconds without a heartbeat after which another replica takes over a job (Redis only).",
        above=0,
    )
    webhook_secret: str | None = _setting(
        "SNAPSHOT_WEBHOOK_SECRET",
        None,
        "Standard Webhooks signing secret, `whsec_<base64>`; unset: `webhook_url` gets 400.",
        secret=True,
    )
    webhook_attempts: int = _setting("SNAPSHOT_WEBHOOK_ATTEMPTS", 6, "Delivery attempts of one webhook.", minimum=1)
    webhook_backoff: float = _setting(
        "SNAPSHOT_WEBHOOK_BACKOFF", 2.0, "Seconds before the second attempt; doubling, with jitter, up to 300.", above=0
    )
    webhook_timeout: float = _setting(
        "SNAPSHOT_WEBHOOK_TIMEOUT", 10.0, "Seconds one webhook attempt may take, from resolving to the answer.", above=0
    )
    webhook_concurrency: int = _setting(
        "SNAPSHOT_WEBHOOK_CONCURRENCY",
        8,
        "Webhook attempts this replica makes at once (one tenant: half of them).",
        minimum=1,
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
    # --- visual monitors (service/monitoring.py)
    max_monitors: int = _setting(
        "SNAPSHOT_MAX_MONITORS", 100, "Most visual monitors the service keeps (every tenant's); 409 beyond.", minimum=0
    )
    monitor_min_interval: int = _setting(
        "SNAPSHOT_MONITOR_MIN_INTERVAL", 60, "Shortest `every` of a monitor, seconds.", minimum=1
    )
    monitors_file: str | None = _setting(
        "SNAPSHOT_MONITORS_FILE",
        None,
        "YAML list of monitors created or updated by name at start (the chart's `monitors` values).",
    )
