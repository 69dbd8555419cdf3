"""The async job runner of one replica: submission with admission, then claim, capture, store and
deliver, for ``SNAPSHOT_JOB_WORKERS`` captures at once.

A job is acknowledged to its store only when it is finished and its webhook delivered or given up;
until then this replica renews its claim.  If the replica dies, the job is claimed by another one
(Redis only), which resumes it from its record: a capture that never finished runs again, a webhook
that was not yet delivered is retried with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.trace import SpanKind, StatusCode
from redis.exceptions import RedisError

from service import tracing
from service.answers import JobView, Stored, Webhook, error_of, to_json
from service.capture import Outcome
from service.config import Settings
from service.delivery.jobs import Admission, Delivery, Job, JobStatus, JobStore
from service.delivery.renderer import Renderer
from service.delivery.sealed import SECRET_PARAMS, Sealer
from service.delivery.webhooks import WebhookSender, backoff
from service.errors import InvalidRequest, JobsUnavailable, Overloaded, ShuttingDown, SnapshotError
from service.metrics import Metrics
from service.options import Endpoint
from service.params import parse_capture_request
from service.snapshots import Snapshotter

log = logging.getLogger("snapshot.jobs")

POLL = 0.1  # seconds between two looks for new jobs when there were none
OVERLOADED_PAUSE = 0.5  # seconds before a job tries again for a capture slot


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        renderer: Renderer,
        webhooks: WebhookSender | None,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.snapshotter: Snapshotter = renderer.snapshotter
        self.webhooks = webhooks
        self.settings = settings
        self.metrics = metrics
        self.sealer = Sealer(settings.job_secret_key)
        self.claiming = True
        # a visual monitor's run ended: compared and recorded before the job is saved (service/monitoring.py)
        self.on_monitor_run: Callable[[Job], Awaitable[None]] | None = None
        self._capturing = 0  # jobs claimed whose capture has not ended
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    # --- submission and reading (the HTTP handlers)

    async def submit(self, job: Job) -> None:
        """Stores and queues ``job``, its secret parameters sealed; raises Overloaded (429) when the queue is
        full or its owner has ``SNAPSHOT_JOB_OWNER_LIMIT`` unfinished jobs."""
        if job.webhook_url is not None:
            job.delivery = Delivery.PENDING
        params, body, secrets = Sealer.split(job.params, job.body)
        if secrets:
            if self.settings.redis_url and not self.sealer.shared:
                message = "headers, cookies and http_auth of async jobs need SNAPSHOT_JOB_SECRET_KEY on this service"
                details = [{"parameter": name, "message": message} for name in SECRET_PARAMS]
                raise InvalidRequest(message, code="invalid_options", details=details)
            job.params, job.body, job.sealed = params, body, self.sealer.seal(job.id, secrets)
        try:
            admission = await self.store.submit(job, self.settings.job_queue_size, self.settings.job_owner_limit)
        except (RedisError, OSError) as exc:
            raise JobsUnavailable(f"the job store did not answer: {exc}") from None
        if admission is Admission.QUEUE_FULL:
            raise Overloaded(f"{self.settings.job_queue_size} jobs are waiting; try again shortly")
        if admission is Admission.OWNER_FULL:
            raise Overloaded(f"{self.settings.job_owner_limit} of your jobs are unfinished; try again when they end")
        self.metrics.jobs_submitted.inc()

    async def get(self, job_id: str) -> Job | None:
        try:
            return await self.store.get(job_id)
        except (RedisError, OSError) as exc:
            raise JobsUnavailable(f"the job store did not answer: {exc}") from None

    def view(self, job: Job) -> dict[str, Any]:
        """The job as ``GET /jobs/{id}`` and its webhook show it; a stored result's ``file_url`` is made
        now (a presigned URL is signed again, valid for its whole lifetime)."""
        view = JobView(
            id=job.id,
            status=job.status.value,
            status_url=job.status_url,
            created_at=_iso(job.created_at) or "",
            started_at=_iso(job.started_at),
            finished_at=_iso(job.finished_at),
            external_id=job.external_id,
        )
        if job.status is JobStatus.SUCCEEDED and job.result is not None:
            file_url = self.snapshotter.storage.url_for(job.result["key"], job.base_url)
            view.result = Stored(file_url, **job.result["metadata"])
        if job.status is JobStatus.FAILED and job.error is not None:
            evidence = job.error.get("evidence_key")
            view.error = error_of(
                job.error, self.snapshotter.storage.url_for(evidence, job.base_url) if evidence else None
            )
        if job.delivery is not None:
            view.webhook = Webhook(job.delivery.value, job.attempts)
        return to_json(view)

    # --- the loops

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="job_claims"),
            asyncio.create_task(self._renew_loop(), name="job_claim_renewal"),
            asyncio.create_task(self._gauge_loop(), name="job_queue_gauges"),
        ]

    @property
    def capturing(self) -> int:
        return self._capturing

    @property
    def busy(self) -> int:
        """Jobs this replica holds: capturing, or delivering their webhook."""
        return len(self._tasks)

    async def _pause(self, seconds: float) -> bool:
        """Sleeps ``seconds``; False once the runner is stopping (the loops then end between two Redis
        calls: a command cancelled halfway can leave its connection unusable)."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            return True
        return False

    async def _claim_loop(self) -> None:
        while not self._stop.is_set():
            try:
                free = self.settings.job_workers - self._capturing if self.claiming else 0
                ids = await self.store.claim(free) if free > 0 else []
            except Exception as exc:
                log.warning("could not claim jobs: %s", exc)
                ids = []
            for job_id in ids:
                self._capturing += 1
                task = asyncio.create_task(self._process(job_id), name=f"job-{job_id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not ids:
                await self._pause(POLL)

    async def _renew_loop(self) -> None:
        while await self._pause(self.settings.job_visibility_timeout / 3):
            try:
                await self.store.renew()
            except Exception as exc:
                log.warning("could not renew the claims on this replica's jobs: %s", exc)

    async def _gauge_loop(self) -> None:
        while True:
            try:
                count, age = await self.store.queued()
                self.metrics.jobs_queued.set(count)
                self.metrics.job_oldest_age.set(age)
            except Exception as exc:
                log.warning("could not read the job queue: %s", exc)
            if not await self._pause(5):
                return

    async def cancel(self) -> None:
        """Stops the loops and abandons the jobs still held (with Redis, another replica takes them
        over after the visibility timeout)."""
        self._stop.set()
        if self._loops:
            await asyncio.wait(self._loops, timeout=2)
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        if self._tasks:
            log.warning("%d jobs left unfinished at shutdown", len(self._tasks))

    # --- one job

    async def _process(self, job_id: str) -> None:
        capturing = True
        try:
            job = await self.store.get(job_id)
            if job is None:  # expired, or deleted
                await self.store.finish(job_id, None)
                return
            # a trace of its own, linked to the request that submitted it (service/tracing.py)
            described: tracing.Attributes = {
                "snapshot.job": job.id,
                "snapshot.request_id": job.request_id,
                "snapshot.job.run": job.runs + 1,
            }
            with tracing.span("job", described, kind=SpanKind.CONSUMER, links=tracing.links(job.trace), root=True):
                if not job.finished and not await self._run(job):
                    return  # shutting down: left for another replica
                tracing.annotate({"snapshot.job.status": job.status.value})
                self._capturing -= 1
                capturing = False
                if job.delivery is Delivery.PENDING:
                    await self._deliver(job)
            await self.store.finish(job.id, job.owner)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s could not be processed; it stays claimed and will be taken over", job_id)
        finally:
            if capturing:
                self._capturing -= 1

    async def _run(self, job: Job) -> bool:
        """Captures and stores the job's result; False if this replica is shutting down."""
        job.status, job.started_at, job.runs = JobStatus.RUNNING, time.time(), job.runs + 1
        await self.store.save(job)
        if job.runs == 1:
            self.metrics.job_wait.observe(job.started_at - job.created_at, tracing.exemplar())
        else:
            log.info("job %s taken over (run %d)", job.id, job.runs)
        try:
            params, body = self._unsealed(job)
            name = self._tenant_name(job)
            settings = self.snapshotter.tenancy.settings_for(name)  # its tenant's permissions
            request = parse_capture_request(params, settings, Endpoint(job.endpoint), body)
            request = dataclasses.replace(request, tenant=name)
            backend = self.snapshotter.backend_for(request)
            while True:
                try:
                    result = await self.renderer.result(request, backend, tenant=job.tenant, store=True)
                    break
                except Overloaded:
                    await asyncio.sleep(OVERLOADED_PAUSE)  # the backend's queue is full of live requests
            job.status = JobStatus.SUCCEEDED
            job.result = {"key": result.key, "metadata": result.metadata(job.request_id)}
            outcome = Outcome.SUCCESS
        except ShuttingDown:
            return False
        except SnapshotError as exc:
            job.status = JobStatus.FAILED
            job.error = exc.body()
            if exc.evidence_key is not None:  # evidence=true: its URL is made when the job is shown
                job.error["evidence_key"] = exc.evidence_key
            outcome = exc.outcome
        except Exception:
            log.exception("job %s failed", job.id)
            job.status = JobStatus.FAILED
            job.error = SnapshotError("an unexpected error occurred").body()
            outcome = Outcome.INTERNAL
        job.finished_at = time.time()
        if job.monitor is not None and self.on_monitor_run is not None:
            await self.on_monitor_run(job)
        job.slim()  # its parameters and secrets are of no further use
        await self.store.save(job)
        self.metrics.jobs_finished.labels(job.status.value).inc()
        delivered = int((job.result or {}).get("metadata", {}).get("bytes") or 0)
        self.snapshotter.tenancy.record(self._tenant_name(job), outcome, delivered)
        log.info("job %s %s", job.id, job.status.value)
        return True

    def _tenant_name(self, job: Job) -> str:
        """The job's tenant, when its submitter was one of the tenants file ("" otherwise)."""
        return job.tenant if self.snapshotter.tenancy.tenant(job.tenant) is not None else ""

    def _unsealed(self, job: Job) -> tuple[dict[str, list[str]], dict[str, Any] | None]:
        """The job's parameters and JSON body with its secret ones put back."""
        params, body = dict(job.params), dict(job.body) if job.body is not None else None
        if job.sealed is not None:
            secrets = self.sealer.open(job.id, job.sealed)
            params |= secrets.get("params", {})
            if "body" in secrets:
                body = {**(body or {}), **secrets["body"]}
        return params, body

    async def _deliver(self, job: Job) -> None:
        """POSTs the job to its webhook until a 2xx answer or ``SNAPSHOT_WEBHOOK_ATTEMPTS`` attempts,
        recording each attempt in the job."""
        assert self.webhooks is not None and job.webhook_url is not None
        event = "job.succeeded" if job.status is JobStatus.SUCCEEDED else "job.failed"
        while job.delivery is Delivery.PENDING:
            number = len(job.attempts) + 1
            if number > 1:
                await asyncio.sleep(backoff(number, self.settings.webhook_backoff))
            # a fresh file_url on every attempt; the tenant (its name, or a digest of an anonymous key) tells
            # receivers whose job it is, and its events are signed with its own secret
            data = job.payload if job.payload is not None else self.view(job)
            body = self.webhooks.body(job.event or event, {**data, "tenant": job.tenant})
            with tracing.span("webhook", {"snapshot.webhook.attempt": number}, kind=SpanKind.CLIENT) as span:
                attempt = await self.webhooks.send(job.webhook_url, job.id, body, number, job.tenant)
                if span is not None:  # the receiver's host (never its path or query) and what it answered
                    span.set_attribute("server.address", urlsplit(job.webhook_url).hostname or "")
                    if attempt.status is not None:
                        span.set_attribute("http.response.status_code", attempt.status)
                    if not attempt.delivered:
                        span.set_status(StatusCode.ERROR, "not delivered")
            job.attempts.append(asdict(attempt))
            if attempt.delivered:
                job.delivery = Delivery.DELIVERED
                self.metrics.webhook_deliveries.labels("delivered").inc()
            elif number >= self.settings.webhook_attempts:
                job.delivery = Delivery.FAILED
                self.metrics.webhook_deliveries.labels("failed").inc()
                log.warning("job %s: webhook given up after %d attempts: %s", job.id, number, attempt.error)
            else:
                self.metrics.webhook_deliveries.labels("retried").inc()
            await self.store.save(job)
