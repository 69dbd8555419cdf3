"""The tenants at work (``service/tenants.py`` reads the file): each one's settings and network policy,
its limits (captures in flight, request rate), its quota, its usage, and the tokens its captures show the
filtering proxy.

- **Quotas** count every capture request a tenant gets admitted - cache hits and async jobs included, at
  admission, so a tenant never exceeds it - in fixed UTC windows (minute, hour, day).  With
  ``SNAPSHOT_REDIS_URL`` the count is shared by every replica (``INCR`` of one key per window); without,
  each replica counts its own.  Over it: 429 ``quota_exceeded`` with ``Retry-After`` until the window ends.
- **Usage**: ``snapshot_tenant_captures_total{tenant,outcome}``, ``snapshot_tenant_browser_seconds_total``
  (the time its captures held a browser tab: navigation, waits, the picture), ``snapshot_tenant_bytes_total``
  (bytes delivered); labels are the file's names only, ``anonymous`` for everyone else.
- **Reach**: a tenant's ``allow_networks`` apply to its captures' own connections at the filtering proxy.
  Such a capture runs in a browser context of its own, disposed of afterwards, and before its page loads
  it shows the proxy a token (HTTP proxy authentication, answering the proxy's 407 for a reserved name:
  its tenant's name and an expiry, signed with a key derived from the tenants file, so any replica's
  proxy verifies it).  The browser then sends the token with every request of that context - and of no
  other: the credentials it caches never serve another capture, another tenant's or the browser's own
  requests.  A connection without a valid token gets the service's policy (403 beyond it, never a
  challenge: a browser without the capture's interception would wait on one).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.answers import QuotaView, TenantLimits, Usage, UsageFigures
from service.capture import Outcome, Phase, Timings
from service.config import Settings
from service.errors import QuotaExceeded, QuotaUnavailable
from service.limits import ClientLimiter
from service.metrics import Metrics
from service.netpolicy import NetworkPolicy
from service.tenants import Reach, Tenant, Tenants

log = logging.getLogger("snapshot.tenants")

ANONYMOUS = "anonymous"  # the metrics' label for callers without a named tenant
PROXY_REALM = "snapshot"
TOKEN_MARGIN = 30.0  # seconds a capture's proxy token outlives its deadline
_HELD = (Phase.NAVIGATE, Phase.WAIT, Phase.SCREENSHOT)  # the phases a capture holds a browser tab


def _sign(secret: bytes, tenant: str, expires: int) -> str:
    return hmac.new(secret, f"{tenant}\n{expires}".encode(), hashlib.sha256).hexdigest()


class Tenancy:
    def __init__(
        self,
        tenants: Tenants,
        settings: Settings,
        policy: NetworkPolicy,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenants = tenants
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self._policy = policy
        self._settings = {
            t.name: settings
            if t.allow_scripts is None
            else dataclasses.replace(settings, allow_scripts=t.allow_scripts)
            for t in tenants.by_name.values()
        }
        self._policies = {
            t.name: dataclasses.replace(policy, allow=policy.allow + t.allow_networks) if t.allow_networks else policy
            for t in tenants.by_name.values()
        }
        self._limiters = {
            t.name: ClientLimiter(t.max_in_flight, t.rate, t.burst)
            for t in tenants.by_name.values()
            if t.max_in_flight or t.rate
        }
        self._counts: dict[tuple[str, int], int] = {}  # (tenant, window start) -> captures, without Redis
        self._redis = aioredis.from_url(settings.redis_url) if settings.redis_url and tenants else None
        for tenant in tenants.by_name.values():
            if tenant.quota is not None:
                metrics.tenant_quota_limit.labels(tenant.name).set(tenant.quota.captures)

    # ------------------------------------------------------------------ settings, policy, limits

    def tenant(self, name: str) -> Tenant | None:
        return self.tenants.get(name)

    def settings_for(self, name: str) -> Settings:
        return self._settings.get(name, self.settings)

    def policy_for(self, name: str) -> NetworkPolicy:
        return self._policies.get(name, self._policy)

    def acquire(self, name: str) -> None:
        """The tenant's captures in flight and request rate; raises ``Overloaded`` (429)."""
        limiter = self._limiters.get(name)
        if limiter is not None:
            limiter.acquire(f"tenant {name}")

    def release(self, name: str) -> None:
        limiter = self._limiters.get(name)
        if limiter is not None:
            limiter.release(f"tenant {name}")

    # ------------------------------------------------------------------ quotas

    async def take_quota(self, name: str) -> None:
        """Count one capture request against the tenant's quota; raises ``QuotaExceeded`` over it."""
        tenant = self.tenants.get(name)
        if tenant is None or tenant.quota is None:
            return
        quota, now = tenant.quota, self.clock()
        start = quota.window_start(now)
        used = await self._increment(name, start, quota.window)
        self.metrics.tenant_quota_used.labels(name).set(min(used, quota.captures))
        if used > quota.captures:
            await self._increment(name, start, quota.window, -1)  # a refused request uses nothing
            wait = max(1, int(start + quota.window - now + 0.999))
            raise QuotaExceeded(
                f"tenant {name} used its quota of {quota.captures} captures per {quota.per}", retry_after=wait
            )

    async def _increment(self, name: str, start: int, window: int, by: int = 1) -> int:
        if self._redis is not None:
            key = f"snapshot:quota:{name}:{start}"
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incrby(key, by)
                    pipe.expire(key, window + 60)
                    used, _ = await pipe.execute()
            except (RedisError, OSError) as exc:  # a quota nobody can count is not granted
                log.warning("quota of tenant %s could not be counted: %s", name, exc)
                raise QuotaUnavailable("the quota store (Redis) is unavailable; try again shortly") from None
            return int(used)
        for stale in [k for k in self._counts if k[0] == name and k[1] != start]:
            del self._counts[stale]
        used = self._counts[(name, start)] = self._counts.get((name, start), 0) + by
        return used

    async def quota_used(self, name: str) -> int:
        tenant = self.tenants.get(name)
        if tenant is None or tenant.quota is None:
            return 0
        start = tenant.quota.window_start(self.clock())
        if self._redis is not None:
            try:
                return int(await self._redis.get(f"snapshot:quota:{name}:{start}") or 0)
            except (RedisError, OSError):
                raise QuotaUnavailable("the quota store (Redis) is unavailable; try again shortly") from None
        return self._counts.get((name, start), 0)

    # ------------------------------------------------------------------ usage

    def label(self, name: str) -> str:
        return name if name in self.tenants.by_name else ANONYMOUS

    def record(self, name: str, outcome: Outcome, delivered: int = 0) -> None:
        """One capture request's end (or an async job's), for its tenant's usage."""
        label = self.label(name)
        self.metrics.tenant_captures.labels(label, outcome).inc()
        if delivered:
            self.metrics.tenant_bytes.labels(label).inc(delivered)

    def held(self, name: str, timings: Timings) -> None:
        """The time a capture held a browser tab (whatever its outcome), for its tenant's usage."""
        seconds = sum((timings.seconds.get(phase, 0.0) for phase in _HELD), 0.0)
        if seconds:
            self.metrics.tenant_browser_seconds.labels(self.label(name)).inc(seconds)

    async def usage(self, name: str, webhook_secret: str | None) -> Usage:
        """What ``GET /usage`` shows the calling tenant: its limits, quota left, usage on this replica."""
        tenant = self.tenants.get(name)
        label = self.label(name)

        def sample(metric: str, **labels: str) -> float:
            return self.metrics.registry.get_sample_value(metric, {"tenant": label, **labels}) or 0.0

        counts = {o.value: int(sample("snapshot_tenant_captures_total", outcome=o.value)) for o in Outcome}
        figures = UsageFigures(
            scope="this replica since it started (every replica: snapshot_tenant_* in Prometheus)",
            captures={outcome: n for outcome, n in counts.items() if n},
            browser_seconds=round(sample("snapshot_tenant_browser_seconds_total"), 3),
            bytes=int(sample("snapshot_tenant_bytes_total")),
        )
        if tenant is None:
            return Usage(figures)
        limits = TenantLimits(
            tenant.max_in_flight,
            tenant.rate,
            tenant.burst,
            self.settings_for(name).allow_scripts,
            [str(n) for n in tenant.allow_networks],
        )
        quota = None
        if tenant.quota is not None:
            used, start = await self.quota_used(name), tenant.quota.window_start(self.clock())
            left = max(0, tenant.quota.captures - used)
            resets_at = int(start + tenant.quota.window)
            quota = QuotaView(tenant.quota.captures, tenant.quota.per, used, left, resets_at, self._redis is not None)  # type: ignore[arg-type]
        return Usage(figures, name, limits, quota, webhook_secret)

    # ------------------------------------------------------------------ reach at the filtering proxy

    def reach(self, name: str, deadline: float) -> Reach | None:
        """The proxy token of a capture of this tenant ending by ``deadline`` (monotonic), when the tenant
        has networks of its own."""
        tenant = self.tenants.get(name)
        if tenant is None or not tenant.allow_networks or not self.settings.egress_proxy:
            return None  # without the filtering proxy its networks apply to the URL check alone
        expires = int(self.clock() + max(0.0, deadline - time.monotonic()) + TOKEN_MARGIN)
        return Reach(name, f"{expires}.{_sign(self.tenants.secret, name, expires)}")

    def verify(self, username: str, password: str) -> NetworkPolicy | None:
        """The policy a proxy token grants, or None for a token that is not valid (now)."""
        expires, _, signature = password.partition(".")
        granted = self._policies.get(username) if username in self.tenants.by_name else None
        if granted is None or not expires.isdigit() or int(expires) < self.clock():
            return None
        expected = _sign(self.tenants.secret, username, int(expires))
        return granted if hmac.compare_digest(expected.encode(), signature.encode()) else None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
