"""Visual monitors: the record of one, and the two stores that hold them and hand out their due runs.

A monitor is a capture (its parameters as a JSON object, secret ones sealed) taken every ``every`` seconds and
compared with its last successful one (``service/monitoring.py`` runs it, ``service/diffs.py`` compares).

Each run belongs to a period: the time it was due (its ``slot``).  A replica takes a due monitor (``claim``) for
``lease`` seconds, remembering its slot; once the run's job is queued it schedules the next period
(``scheduled``).  A replica that dies in between leaves the slot claimed: after the lease another one takes the
same slot, whose job has the same id (``run_id``), so a run is never lost and never doubled for one period.
``MemoryMonitors`` (the embedded default) keeps them in this process; ``RedisMonitors``
(``SNAPSHOT_REDIS_URL``) shares them with every replica.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass
class Monitor:
    id: str
    name: str
    owner: str  # whose it is: the API key's tenant id, as a job's (empty without API keys)
    capture: dict[str, Any]  # the capture's parameters, as a JSON body (secret ones sealed)
    every: int  # seconds
    threshold: float  # the share of changed pixels that counts as a change
    base_url: str  # for local file URLs in webhooks
    created_at: float
    webhook_url: str | None = None
    sealed: str | None = None  # headers, cookies, http_auth (delivery/sealed.py)
    baseline: str | None = None  # storage key of the last successful capture
    last_run: dict[str, Any] | None = None  # at, slot, outcome, key, diff_key, diff_ratio, changed, error
    runs: int = 0
    failures: int = 0  # failed runs since the last success

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: str | bytes) -> Monitor:
        return cls(**json.loads(raw))


def run_id(monitor_id: str, slot: float) -> str:
    """The id of the job of a monitor's run for one period: the same on every replica."""
    return hashlib.sha256(f"{monitor_id}:{slot!r}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Claim:
    monitor_id: str
    slot: float  # when the run was due


class MonitorStore(Protocol):
    async def add(self, monitor: Monitor, limit: int) -> bool:
        """Stores a new monitor, due at once; False when ``limit`` monitors exist."""

    async def get(self, monitor_id: str) -> Monitor | None: ...

    async def all(self) -> list[Monitor]: ...

    async def save(self, monitor: Monitor) -> None:
        """Stores a monitor's record (its schedule is left as it is); nothing if it was deleted."""

    async def delete(self, monitor_id: str) -> bool: ...

    async def claim(self, now: float, count: int, lease: float) -> list[Claim]:
        """Up to ``count`` monitors due by ``now``, each held for ``lease`` seconds (then due again, same slot)."""

    async def scheduled(self, monitor_id: str, at: float) -> None:
        """The claimed run is queued: the monitor is next due at ``at``."""

    async def due_now(self, monitor_id: str, now: float) -> None:
        """Run it as soon as possible (``POST /monitors/{id}/run``)."""

    async def close(self) -> None: ...


@dataclass
class MemoryMonitors:
    """Monitors in this process: gone when it stops, and each replica has its own."""

    monitors: dict[str, Monitor] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)
    slots: dict[str, float] = field(default_factory=dict)

    async def add(self, monitor: Monitor, limit: int) -> bool:
        if len(self.monitors) >= limit:
            return False
        self.monitors[monitor.id] = monitor
        self.due[monitor.id] = time.time()
        return True

    async def get(self, monitor_id: str) -> Monitor | None:
        return self.monitors.get(monitor_id)

    async def all(self) -> list[Monitor]:
        return sorted(self.monitors.values(), key=lambda m: m.created_at)

    async def save(self, monitor: Monitor) -> None:
        if monitor.id in self.monitors:
            self.monitors[monitor.id] = monitor

    async def delete(self, monitor_id: str) -> bool:
        self.due.pop(monitor_id, None)
        self.slots.pop(monitor_id, None)
        return self.monitors.pop(monitor_id, None) is not None

    async def claim(self, now: float, count: int, lease: float) -> list[Claim]:
        claims = []
        for monitor_id, at in sorted(self.due.items(), key=lambda item: item[1])[:count]:
            if at > now:
                break
            slot = self.slots.setdefault(monitor_id, at)
            self.due[monitor_id] = now + lease
            claims.append(Claim(monitor_id, slot))
        return claims

    async def scheduled(self, monitor_id: str, at: float) -> None:
        if monitor_id in self.due:
            self.due[monitor_id] = at
        self.slots.pop(monitor_id, None)

    async def due_now(self, monitor_id: str, now: float) -> None:
        if monitor_id in self.due and monitor_id not in self.slots:
            self.due[monitor_id] = now

    async def close(self) -> None:
        pass


MONITOR = "snapshot:monitor:"
DUE = "snapshot:monitors:due"  # sorted set: id -> when next due
SLOTS = "snapshot:monitors:slots"  # hash: id -> the slot of its claimed, not yet queued run

# KEYS: due, monitor; ARGV: limit, now, id, JSON
_ADD = """
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return 1
"""
# KEYS: due, slots; ARGV: now, count, lease.  Returns id, slot, id, slot...
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local slot = redis.call('HGET', KEYS[2], id)
  if not slot then
    slot = redis.call('ZSCORE', KEYS[1], id)
    redis.call('HSET', KEYS[2], id, slot)
  end
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[3]), id)
  table.insert(out, id)
  table.insert(out, slot)
end
return out
"""
# KEYS: due, slots; ARGV: id, at
_SCHEDULED = """
redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""
# KEYS: due, slots; ARGV: id, now.  A run already claimed stays as it is.
_DUE_NOW = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
return 1
"""
# KEYS: monitor, due; ARGV: JSON, id.  Only a monitor that still exists.
_SAVE = """
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


class RedisMonitors:
    def __init__(self, redis: Any) -> None:
        self.redis = redis  # redis.asyncio.Redis with decode_responses=True

    async def add(self, monitor: Monitor, limit: int) -> bool:
        args = (limit, time.time(), monitor.id, monitor.dumps())
        return bool(int(await self.redis.eval(_ADD, 2, DUE, MONITOR + monitor.id, *args)))

    async def get(self, monitor_id: str) -> Monitor | None:
        raw = await self.redis.get(MONITOR + monitor_id)
        return Monitor.loads(raw) if raw is not None else None

    async def all(self) -> list[Monitor]:
        ids = await self.redis.zrange(DUE, 0, -1)
        raws = await self.redis.mget([MONITOR + i for i in ids]) if ids else []
        return sorted((Monitor.loads(raw) for raw in raws if raw is not None), key=lambda m: m.created_at)

    async def save(self, monitor: Monitor) -> None:
        await self.redis.eval(_SAVE, 2, MONITOR + monitor.id, DUE, monitor.dumps(), monitor.id)

    async def delete(self, monitor_id: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(DUE, monitor_id)
            pipe.hdel(SLOTS, monitor_id)
            pipe.delete(MONITOR + monitor_id)
            removed, _, _ = await pipe.execute()
        return bool(removed)

    async def claim(self, now: float, count: int, lease: float) -> list[Claim]:
        found = await self.redis.eval(_CLAIM, 2, DUE, SLOTS, now, count, lease)
        return [Claim(found[i], float(found[i + 1])) for i in range(0, len(found), 2)]

    async def scheduled(self, monitor_id: str, at: float) -> None:
        await self.redis.eval(_SCHEDULED, 2, DUE, SLOTS, monitor_id, at)

    async def due_now(self, monitor_id: str, now: float) -> None:
        await self.redis.eval(_DUE_NOW, 2, DUE, SLOTS, monitor_id, now)

    async def close(self) -> None:
        pass
