"""Visual monitors at work: made and shown for their owners, run on their schedule through the async job path, each
run compared with the last successful one, the change told in Prometheus and in a signed webhook.

- ``create``/``mine``/``owned``/``delete``/``run_now``: the API (``service/handlers_monitors.py``).
- The schedule loop takes due monitors from the store (``service/monitors.py``) and queues each run as an async
  job whose id is its period's (``run_id``): with Redis, any replica's runner captures it, takes it over if its
  replica dies, and it counts against its tenant like any job.
- ``record`` is called by the job runner when a monitor's job ends (before the job is saved as finished, so a
  taken-over job records again, once per period): the comparison (``service/diffs.py``), the diff image stored
  like a result, the metrics, and the webhook the job then delivers (``monitor.changed``, ``monitor.failed``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from service import diffs, tracing
from service.answers import MonitorRun, MonitorView, error_of, to_json
from service.config import Settings
from service.delivery.jobs import Delivery, Job, JobStatus
from service.delivery.sealed import Sealer
from service.delivery.webhooks import WebhookSender
from service.delivery.worker import JobRunner
from service.errors import Blocked, InvalidRequest, MonitorConflict, SnapshotError
from service.metrics import Metrics
from service.monitors import Claim, Monitor, MonitorStore, run_id
from service.options import Endpoint
from service.params import parse_capture_request

log = logging.getLogger("snapshot.monitors")

TICK = 1.0  # seconds between two looks for due monitors
LEASE = 60.0  # seconds a replica holds a due run before another may queue it
MAX_EVERY = 30 * 86400
DEFAULT_THRESHOLD = 0.01
# capture parameters a monitor's runs cannot have: they run as jobs, always stored, never from the cache
REFUSED = ("async", "webhook_url", "external_id", "cache_ttl", "response_type", "localmode")


def _iso(at: float | None) -> str | None:
    return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if at else None


def _invalid(parameter: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{parameter}: {message}", code="invalid_monitor",
                          details=[{"parameter": parameter, "message": message}])  # fmt: skip


class Monitoring:
    def __init__(
        self,
        store: MonitorStore,
        jobs: JobRunner,
        settings: Settings,
        metrics: Metrics,
        webhooks: WebhookSender | None,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.snapshotter = jobs.snapshotter
        self.settings = settings
        self.metrics = metrics
        self.webhooks = webhooks
        self.sealer = Sealer(settings.job_secret_key)
        self._loop: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        jobs.on_monitor_run = self.record

    # --- the API

    async def create(self, owner: str, body: Mapping[str, Any], base_url: str) -> Monitor:
        """A new monitor of ``owner`` from a ``POST /monitors`` body; its first run is due at once."""
        monitor = await self.parse(owner, body, base_url)
        if any(m.owner == owner and m.name == monitor.name for m in await self.store.all()):
            raise MonitorConflict(f"you have a monitor named {monitor.name!r}")
        if not await self.store.add(monitor, self.settings.max_monitors):
            raise MonitorConflict(f"the service keeps at most {self.settings.max_monitors} monitors")
        self.metrics.monitor_created(monitor.id, monitor.name, monitor.every)
        return monitor

    async def parse(self, owner: str, body: Mapping[str, Any], base_url: str, monitor_id: str | None = None) -> Monitor:
        """A monitor (a new one, or ``monitor_id``'s) from a JSON object, checked as a capture of the owner's tenant,
        its target and webhook against the policy; raises ``InvalidRequest`` or ``Blocked``."""
        if not isinstance(body, Mapping):
            raise InvalidRequest("the body must be a JSON object", code="malformed_body")
        capture = {k: v for k, v in body.items() if k not in ("every", "threshold", "name", "webhook_url")}
        for name in REFUSED:
            if name in capture:
                raise _invalid(name, "is not for monitors (their runs are async jobs, stored, never cached)")
        every, threshold = body.get("every"), body.get("threshold", DEFAULT_THRESHOLD)
        if isinstance(every, bool) or not isinstance(every, int) or not self.settings.monitor_min_interval <= every:
            raise _invalid("every", f"must be a whole number of seconds, at least {self.settings.monitor_min_interval}")
        if every > MAX_EVERY:
            raise _invalid("every", f"must be at most {MAX_EVERY} seconds")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold < 1:
            raise _invalid("threshold", "must be a share of the pixels, from 0 to below 1")
        tenant = self._tenant_name(owner)  # its permissions and networks, as its captures have them
        request = parse_capture_request({}, self.snapshotter.tenancy.settings_for(tenant), Endpoint.SNAP, capture)
        if request.options.format not in ("png", "jpeg", "webp"):
            raise _invalid("format", "must be an image")
        await self.snapshotter.check(request.checked_target, time.monotonic() + 10, tenant)
        name = body.get("name") or (request.target.host if request.document is None else "document")
        if not isinstance(name, str) or not 0 < len(name) <= 100 or not name.isprintable():
            raise _invalid("name", "must be 1 to 100 printable characters")
        webhook_url = body.get("webhook_url")
        if webhook_url is not None:
            if not isinstance(webhook_url, str) or self.webhooks is None:
                raise _invalid("webhook_url", "needs a URL and SNAPSHOT_WEBHOOK_SECRET on this service")
            try:
                await self.webhooks.check(webhook_url)
            except Blocked as exc:
                raise Blocked(f"webhook_url: {exc.message}") from None
        monitor = Monitor(monitor_id or Monitor.new_id(), name, owner, {}, every, float(threshold), base_url,
                          time.time(), webhook_url)  # fmt: skip
        _, kept, secrets = Sealer.split({}, capture)
        monitor.capture = kept or {}
        if secrets:
            monitor.sealed = self.sealer.seal(monitor.id, secrets)
        return monitor

    async def declare(self, entries: list[dict[str, Any]]) -> None:
        """The chart's monitors (``SNAPSHOT_MONITORS_FILE``): each made, or updated by its owner and name (keeping
        its last run and baseline).  One that is not valid is logged and skipped."""
        existing = {(m.owner, m.name): m for m in await self.store.all()}
        for entry in entries:
            owner = str(entry.get("tenant") or "")
            old = existing.get((owner, entry["name"]))
            body = {k: v for k, v in entry.items() if k != "tenant"}
            try:  # an existing one keeps its id: its secrets are sealed for it
                monitor = await self.parse(owner, body, self.settings.public_base_url or "", old.id if old else None)
            except SnapshotError as exc:
                log.error("declared monitor %r: %s", entry.get("name"), exc.message)
                continue
            if old is None:
                if await self.store.add(monitor, self.settings.max_monitors):
                    self.metrics.monitor_created(monitor.id, monitor.name, monitor.every)
                continue
            old.capture, old.sealed, old.every = monitor.capture, monitor.sealed, monitor.every
            old.threshold, old.webhook_url = monitor.threshold, monitor.webhook_url
            await self.store.save(old)
            self.metrics.monitor_created(old.id, old.name, old.every)

    async def mine(self, owner: str) -> list[Monitor]:
        return [m for m in await self.store.all() if m.owner == owner]

    async def owned(self, owner: str, monitor_id: str) -> Monitor | None:
        monitor = await self.store.get(monitor_id)
        return monitor if monitor is not None and monitor.owner == owner else None

    async def delete(self, monitor: Monitor) -> None:
        await self.store.delete(monitor.id)
        self.metrics.monitor_deleted(monitor.id)

    async def run_now(self, monitor: Monitor) -> None:
        await self.store.due_now(monitor.id, time.time())

    def view(self, monitor: Monitor) -> dict[str, Any]:
        """The monitor as its owner and its webhooks see it (never its sealed parameters)."""
        storage, last = self.snapshotter.storage, monitor.last_run
        run = None
        if last is not None:
            run = MonitorRun(
                at=_iso(last["at"]) or "", outcome=last["outcome"], changed=last["changed"],
                diff_ratio=last["diff_ratio"],
                file_url=storage.url_for(last["key"], monitor.base_url) if last["key"] else None,
                diff_url=storage.url_for(last["diff_key"], monitor.base_url) if last["diff_key"] else None,
                error=error_of(last["error"], None) if last["error"] else None,
            )  # fmt: skip
        return to_json(MonitorView(
            id=monitor.id, name=monitor.name, every=monitor.every, threshold=monitor.threshold,
            capture=monitor.capture, created_at=_iso(monitor.created_at) or "", runs=monitor.runs,
            failures=monitor.failures, webhook_url=monitor.webhook_url, last_run=run,
        ))  # fmt: skip

    def _tenant_name(self, owner: str) -> str:
        return owner if self.snapshotter.tenancy.tenant(owner) is not None else ""

    # --- the schedule

    def start(self) -> None:
        self._loop = asyncio.create_task(self._schedule(), name="monitor_schedule")

    async def cancel(self) -> None:
        self._stop.set()
        if self._loop is not None:
            await asyncio.wait([self._loop], timeout=2)
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)

    async def _schedule(self) -> None:
        while not self._stop.is_set():
            try:
                for claim in await self.store.claim(time.time(), 10, LEASE):
                    await self._queue(claim)
            except Exception as exc:
                log.warning("could not queue the due monitors: %s", exc)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=TICK)
            except TimeoutError:
                pass

    async def _queue(self, claim: Claim) -> None:
        """The claimed run queued as a job (unless a replica that died queued it already), the next one scheduled."""
        monitor = await self.store.get(claim.monitor_id)
        if monitor is None:
            return
        job_id = run_id(monitor.id, claim.slot)
        if await self.jobs.store.get(job_id) is None:
            body = dict(monitor.capture)
            if monitor.sealed is not None:
                body |= self.sealer.open(monitor.id, monitor.sealed).get("body", {})
            job = Job(id=job_id, endpoint=Endpoint.SNAP.value, params={}, body=body, base_url=monitor.base_url,
                      tenant=monitor.owner, owner=f"monitor:{monitor.id}", created_at=time.time(),
                      request_id=f"monitor-{monitor.id}", monitor=monitor.id, monitor_slot=claim.slot)  # fmt: skip
            with tracing.span("monitor run", {"snapshot.monitor": monitor.id}, root=True):
                job.trace = tracing.carrier()
                try:
                    await self.snapshotter.tenancy.take_quota(self._tenant_name(monitor.owner))
                    await self.jobs.submit(job)
                except SnapshotError as exc:  # over its tenant's quota, a full queue: this period's run failed
                    job.status, job.error = JobStatus.FAILED, exc.body()
                    await self.record(job)
        # the next period, counted from this one's slot; missed periods (the service was down) are not made up
        await self.store.scheduled(monitor.id, max(claim.slot + monitor.every, time.time()))

    # --- a run's end

    async def record(self, job: Job) -> None:
        """A monitor's run ended (``job``): compared, recorded once for its period, its webhook set on the job."""
        monitor = await self.store.get(job.monitor or "")
        if monitor is None or (monitor.last_run is not None and monitor.last_run["slot"] == job.monitor_slot):
            return
        run: dict[str, Any] = {"at": time.time(), "slot": job.monitor_slot, "job": job.id, "outcome": "failed",
                               "key": None, "diff_key": None, "diff_ratio": None, "changed": False,
                               "error": job.error}  # fmt: skip
        if job.status is JobStatus.SUCCEEDED and job.result is not None:
            run |= {"outcome": "success", "key": job.result["key"]}
            if monitor.baseline is not None:
                run |= await self._compare(monitor, monitor.baseline, job.result["key"])
            monitor.baseline, monitor.failures = job.result["key"], 0
        else:
            monitor.failures += 1
        monitor.runs, monitor.last_run = monitor.runs + 1, run
        await self.store.save(monitor)
        self.metrics.monitor_created(monitor.id, monitor.name, monitor.every)  # this replica's series of it too
        self.metrics.monitor_run(monitor.id, run["outcome"], run["diff_ratio"], run["changed"])
        event = "monitor.changed" if run["changed"] else "monitor.failed" if monitor.failures == 1 else None
        if event is not None and monitor.webhook_url is not None and self.webhooks is not None:
            job.webhook_url, job.delivery, job.event = monitor.webhook_url, Delivery.PENDING, event
            job.payload = {"monitor": self.view(monitor)}

    async def _compare(self, monitor: Monitor, before_key: str, after_key: str) -> dict[str, Any]:
        """The diff of two stored captures, its image stored; nothing when the last one is gone (expired)."""
        deadline = time.monotonic() + self.settings.capture_timeout
        storage, io = self.snapshotter.storage, self.snapshotter.io
        try:
            before = await io(storage.get, before_key, deadline=deadline)
            after = await io(storage.get, after_key, deadline=deadline)
            if before is None or after is None:
                return {}
            with tracing.span("diff"):
                diff = await io(diffs.compare, before, after, deadline=deadline)
            diff_key = storage.new_key("png")
            await self.snapshotter.store(diff_key, diff.image, "image/png")
        except (SnapshotError, OSError, ValueError) as exc:
            log.warning("monitor %s: the comparison failed: %s", monitor.id, exc)
            return {}
        return {"diff_key": diff_key, "diff_ratio": round(diff.ratio, 6), "changed": diff.ratio > monitor.threshold}
