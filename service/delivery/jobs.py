"""Async jobs: the job record and the two stores that hold them.

``MemoryJobs`` (the embedded default) keeps jobs in this process: they are lost if it dies.
``RedisJobs`` (``SNAPSHOT_REDIS_URL``) keeps each job as a JSON document and queues its id on a Redis
stream read by one consumer group, so any replica can run it.  A replica acknowledges a job only when
it is finished *and* its webhook delivered (or given up), and renews its claim on the jobs it holds
while it works on them; a job held by a replica that died stops being renewed and is claimed by
another replica after the visibility timeout (``XAUTOCLAIM``), which resumes it where the record says
it stopped.  Admission is one Lua script: a full queue, or an owner (an API key, or a client address
without keys) with ``owner_limit`` unfinished jobs, refuses the job before it is stored.  A finished
job keeps no parameters; each owner's newest ``retained`` finished jobs are kept, older ones dropped.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Admission(StrEnum):
    ACCEPTED = "accepted"
    QUEUE_FULL = "queue_full"
    OWNER_FULL = "owner_full"  # the owner has its limit of unfinished jobs


class Delivery(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass
class Job:
    id: str
    endpoint: str
    params: dict[str, list[str]]  # the query's and form's parameters, parsed again by the worker
    body: dict[str, Any] | None  # a JSON body's
    base_url: str  # for local file_urls
    tenant: str
    created_at: float
    owner: str = ""  # whose limits it counts against: the tenant, or "ip:<address>" without API keys
    sealed: str | None = None  # the parameters kept secret (headers, cookies), encrypted (delivery/sealed.py)
    request_id: str = ""  # the submitting request's
    external_id: str | None = None
    webhook_url: str | None = None
    status: JobStatus = JobStatus.QUEUED
    started_at: float | None = None
    finished_at: float | None = None
    runs: int = 0  # times a replica started its capture (more than 1: taken over)
    result: dict[str, Any] | None = None  # {"key": storage key, "metadata": {...}}
    error: dict[str, Any] | None = None  # the error JSON
    delivery: Delivery | None = None  # None: no webhook
    attempts: list[dict[str, Any]] = field(default_factory=list)  # webhook attempts
    trace: dict[str, str] = field(default_factory=dict)  # the submitting request's trace context (its run links it)
    monitor: str | None = None  # a visual monitor's run (service/monitoring.py): its id and period
    monitor_slot: float | None = None
    event: str | None = None  # the webhook's event and data, when not the job's own (a monitor's)
    payload: dict[str, Any] | None = None

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def status_url(self) -> str:
        return f"{self.base_url}/jobs/{self.id}"

    @property
    def done(self) -> bool:
        """Finished, and its webhook (if any) delivered or given up."""
        return self.finished and self.delivery is not Delivery.PENDING

    def slim(self) -> None:
        """Drops what only its capture needed: a finished job keeps no parameters and no secrets."""
        self.params, self.body, self.sealed = {}, None, None

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: str | bytes) -> Job:
        doc = json.loads(raw)
        doc["status"] = JobStatus(doc["status"])
        doc["delivery"] = Delivery(doc["delivery"]) if doc["delivery"] else None
        return cls(**doc)


class JobStore(Protocol):
    async def submit(self, job: Job, limit: int, owner_limit: int) -> Admission:
        """Stores and queues the job, unless ``limit`` jobs already wait or its owner has ``owner_limit``
        unfinished."""

    async def get(self, job_id: str) -> Job | None: ...

    async def save(self, job: Job) -> None: ...

    async def claim(self, count: int) -> list[str]:
        """Up to ``count`` jobs for this replica to work on: abandoned ones first, then queued ones."""

    async def renew(self) -> None:
        """Keeps this replica's claim on the jobs it works on."""

    async def finish(self, job_id: str, owner: str | None) -> None:
        """This replica is done with the job (finished and delivered): it no longer counts against its
        owner's unfinished jobs, and is kept as one of its finished ones (``owner`` None: the record is gone)."""

    async def queued(self) -> tuple[int, float]:
        """How many jobs wait, and the age of the oldest, seconds."""

    async def close(self) -> None: ...


class MemoryJobs:
    """Jobs in this process: gone when it stops (``SNAPSHOT_REDIS_URL`` makes them durable)."""

    def __init__(self, ttl: float, retained: int = 1000) -> None:
        self.ttl = ttl
        self.retained = retained
        self._jobs: dict[str, Job] = {}
        self._queue: deque[str] = deque()
        self._open: dict[str, int] = {}  # owner -> unfinished jobs
        self._finished: dict[str, deque[str]] = {}  # owner -> its finished jobs, oldest first

    def _prune(self) -> None:
        now = time.time()
        for job_id in [i for i, j in self._jobs.items() if j.done and (j.finished_at or now) + self.ttl < now]:
            del self._jobs[job_id]

    async def submit(self, job: Job, limit: int, owner_limit: int) -> Admission:
        self._prune()
        if len(self._queue) >= limit:
            return Admission.QUEUE_FULL
        if self._open.get(job.owner, 0) >= owner_limit:
            return Admission.OWNER_FULL
        self._open[job.owner] = self._open.get(job.owner, 0) + 1
        self._jobs[job.id] = job
        self._queue.append(job.id)
        return Admission.ACCEPTED

    async def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def save(self, job: Job) -> None:
        self._jobs[job.id] = job

    async def claim(self, count: int) -> list[str]:
        return [self._queue.popleft() for _ in range(min(count, len(self._queue)))]

    async def renew(self) -> None:
        pass

    async def finish(self, job_id: str, owner: str | None) -> None:
        if owner is None:
            return
        left = self._open.get(owner, 1) - 1
        if left > 0:
            self._open[owner] = left
        else:
            self._open.pop(owner, None)
        kept = self._finished.setdefault(owner, deque())
        kept.append(job_id)
        while len(kept) > self.retained:
            self._jobs.pop(kept.popleft(), None)
        if not kept:
            del self._finished[owner]

    async def queued(self) -> tuple[int, float]:
        if not self._queue:
            return 0, 0.0
        return len(self._queue), time.time() - self._jobs[self._queue[0]].created_at

    async def close(self) -> None:
        pass


STREAM = "snapshot:jobs"
GROUP = "snapshot"
QUEUED = "snapshot:jobs:queued"  # jobs not yet read by any replica
JOB = "snapshot:job:"
OPEN = "snapshot:owner:open:"  # + owner: its unfinished jobs
FINISHED = "snapshot:owner:finished:"  # + owner: its finished jobs by time (a sorted set)
_KEEP_UNFINISHED = 7 * 86400  # seconds: an unfinished job's record outlives any queue

# KEYS: job, queued counter, stream, owner's open counter; ARGV: job JSON, job id, limit, ttl, owner limit
_SUBMIT = """
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[3]) then return 0 end
if tonumber(redis.call('GET', KEYS[4]) or '0') >= tonumber(ARGV[5]) then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('INCR', KEYS[2])
redis.call('INCR', KEYS[4])
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('XADD', KEYS[3], '*', 'id', ARGV[2])
return 1
"""
# KEYS: owner's open counter, owner's finished set; ARGV: job id, now, retained, ttl, job key prefix.
# The job counts as finished; the owner's oldest finished jobs beyond ``retained`` are deleted.
_FINISH = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], over)  -- member, score, member, score...
  for i = 1, #popped, 2 do redis.call('DEL', ARGV[5] .. popped[i]) end
end
return 1
"""
# KEYS: stream, queued counter; ARGV: group, consumer, count.  New entries, counted off the queue at once.
_READ = """
local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
if not read then return {} end
local entries = read[1][2]
if #entries > 0 then redis.call('DECRBY', KEYS[2], #entries) end
return entries
"""


class RedisJobs:
    def __init__(self, redis: Any, consumer: str, *, ttl: int, visibility: float, retained: int = 1000) -> None:
        self.redis = redis  # redis.asyncio.Redis with decode_responses=True
        self.consumer = consumer
        self.ttl = ttl
        self.retained = retained
        self.visibility_ms = int(visibility * 1000)
        self._held: dict[str, str] = {}  # job id -> stream entry id
        self._ready = False

    async def _group(self) -> None:
        if self._ready:
            return
        try:
            await self.redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: another replica made it
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True

    async def submit(self, job: Job, limit: int, owner_limit: int) -> Admission:
        await self._group()
        args = (job.dumps(), job.id, limit, self.ttl + _KEEP_UNFINISHED, owner_limit)
        answer = int(await self.redis.eval(_SUBMIT, 4, JOB + job.id, QUEUED, STREAM, OPEN + job.owner, *args))
        return {1: Admission.ACCEPTED, 0: Admission.QUEUE_FULL}.get(answer, Admission.OWNER_FULL)

    async def get(self, job_id: str) -> Job | None:
        raw = await self.redis.get(JOB + job_id)
        return Job.loads(raw) if raw is not None else None

    async def save(self, job: Job) -> None:
        await self.redis.set(JOB + job.id, job.dumps(), ex=self.ttl if job.done else self.ttl + _KEEP_UNFINISHED)

    def _take(self, entries: list[Any]) -> list[str]:
        ids = []
        for entry_id, fields in entries:
            job_id = (fields or {}).get("id")
            if not job_id:  # deleted meanwhile
                continue
            known = job_id in self._held
            self._held[job_id] = entry_id
            if not known:  # not one this replica already works on
                ids.append(job_id)
        return ids

    async def claim(self, count: int) -> list[str]:
        await self._group()
        if count <= 0:
            return []
        reply = await self.redis.xautoclaim(STREAM, GROUP, self.consumer, self.visibility_ms, "0-0", count=count)
        ids = self._take(reply[1])
        if len(ids) < count:
            fresh = await self.redis.eval(_READ, 2, STREAM, QUEUED, GROUP, self.consumer, count - len(ids))
            ids += self._take([(entry_id, dict(zip(kv[::2], kv[1::2], strict=True))) for entry_id, kv in fresh])
        return ids

    async def renew(self) -> None:
        if self._held:
            # claiming an entry again resets its idle time: no other replica takes it over
            await self.redis.xclaim(STREAM, GROUP, self.consumer, 0, list(self._held.values()), justid=True)

    async def finish(self, job_id: str, owner: str | None) -> None:
        entry = self._held.pop(job_id, None)
        if entry is not None:
            await self.redis.xack(STREAM, GROUP, entry)
            await self.redis.xdel(STREAM, entry)
        if owner is not None:
            args = (job_id, time.time(), self.retained, self.ttl, JOB)
            await self.redis.eval(_FINISH, 2, OPEN + owner, FINISHED + owner, *args)

    async def queued(self) -> tuple[int, float]:
        await self._group()
        count = int(await self.redis.get(QUEUED) or 0)
        if count <= 0:
            return 0, 0.0
        groups = await self.redis.xinfo_groups(STREAM)
        last = next((g["last-delivered-id"] for g in groups if g["name"] == GROUP), "0-0")
        after = await self.redis.xrange(STREAM, min="(" + last, count=1)
        if not after:
            return count, 0.0
        return count, max(0.0, time.time() - int(after[0][0].split("-")[0]) / 1000)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.redis.aclose(), timeout=2)
        except TimeoutError:
            pass  # the process is about to exit; its sockets close with it
