"""Delivery benchmarks, on real Redis, SeaweedFS, local Chromium and two service replicas.

    python -m load_tests.delivery jobs  [--count 1000] [--kill-at 0.3] [--json]
    python -m load_tests.delivery cache [--count 200] [--concurrency 2] [--json]

``jobs``: submits --count async jobs with webhooks, alternating between two replicas that share one
Redis, and SIGKILLs one replica once --kill-at of the jobs have finished.  Then waits until every
accepted job is finished and counts: accepted, finished, delivered (a 2xx answer to a signature the
receiver verified), lost (accepted and never delivered: must be 0) and duplicate deliveries (the same
``webhook-id`` more than once: allowed, at least once).

``cache``: the same GET side by side, rendered every time and served from the cache (``cache_ttl``):
p50 latency and throughput of each, and their ratio.

Everything it starts it stops.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests.load import run_workers
from load_tests.stats import print_report
from tests.servers import WEBHOOK_ENV, PageServer, WebhookReceiver, start_redis, start_s3, start_service


def _env(redis_url: str, s3, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "SNAPSHOT_REDIS_URL": redis_url,
        "SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8",
        "SNAPSHOT_LOCAL_POOL_SIZE": "2",
        **WEBHOOK_ENV,
        "SNAPSHOT_WEBHOOK_BACKOFF": "0.5",
        **s3.service_env(),
        "SNAPSHOT_LOG_LEVEL": "WARNING",
        **extra,
    }


def jobs(args: argparse.Namespace) -> dict:
    pages, hook, redis, s3 = PageServer(), WebhookReceiver(), start_redis(), start_s3()
    replicas = []
    try:
        env = _env(redis.url, s3, SNAPSHOT_JOB_QUEUE_SIZE=str(args.count), SNAPSHOT_JOB_VISIBILITY_TIMEOUT="5",
                   SNAPSHOT_JOB_WORKERS="2")  # fmt: skip
        replicas = [start_service(env) for _ in range(2)]
        form = {"url": f"{pages.base}/cards?n=50", "width": "800", "height": "600", "async": "true",
                "webhook_url": hook.url}  # fmt: skip
        started = time.monotonic()
        accepted: list[str] = []
        refused = 0
        for i in range(args.count):
            response = requests.post(f"{replicas[i % 2].url}/create_snap", data=form, timeout=30)
            if response.status_code == 202:
                accepted.append(response.json()["id"])
            else:
                refused += 1
        submitted_in = time.monotonic() - started

        def delivered() -> set[str]:
            return {i for i, ds in hook.by_id().items() if any(d.answered == 204 and d.verified for d in ds)}

        while len(delivered()) < args.kill_at * len(accepted):
            time.sleep(0.2)
        replicas[0].proc.signal(signal.SIGKILL)
        killed_at = time.monotonic() - started
        deadline = time.monotonic() + args.count * 2 + 120
        while len(delivered() & set(accepted)) < len(accepted) and time.monotonic() < deadline:
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        survivor = replicas[1]
        with ThreadPoolExecutor(8) as pool:
            states = list(pool.map(lambda i: requests.get(f"{survivor.url}/jobs/{i}", timeout=10).json(), accepted))
        records = redis.client()
        taken_over = sum(json.loads(records.get(f"snapshot:job:{i}") or "{}").get("runs", 0) > 1 for i in accepted)
    finally:
        for replica in replicas:
            replica.stop()
        for server in (s3, redis):
            server.stop()
        hook.stop()
        pages.stop()
    by_id = hook.by_id()
    done = {i for i, ds in by_id.items() if any(d.answered == 204 and d.verified for d in ds)}
    row = {
        "accepted": len(accepted),
        "refused": refused,
        "finished": sum(s.get("status") in ("succeeded", "failed") for s in states),
        "succeeded": sum(s.get("status") == "succeeded" for s in states),
        "delivered": len(done & set(accepted)),
        "lost": len(set(accepted) - done),
        "taken_over": taken_over,
        "duplicates": sum(len(by_id[i]) - 1 for i in accepted if i in by_id and len(by_id[i]) > 1),
        "unverified": sum(1 for ds in by_id.values() for d in ds if d.verified is None),
        "jobs_per_s": round(len(done) / elapsed, 2),
    }
    return {"rows": [row], "submitted_in_s": round(submitted_in, 1), "killed_at_s": round(killed_at, 1),
            "elapsed_s": round(elapsed, 1)}  # fmt: skip


def cache(args: argparse.Namespace) -> dict:
    pages, redis, s3 = PageServer(), start_redis(), start_s3()
    service = None
    try:
        service = start_service(_env(redis.url, s3))
        base = {"url": f"{pages.base}/cards?n=200", "width": 1000, "height": 1000}
        session = [requests.Session() for _ in range(args.concurrency)]
        session[0].get(f"{service.url}/create_snap", params={**base, "cache_ttl": 3600}, timeout=60)  # fill it
        results = []
        for name, extra in (("rendered every time", {}), ("from the cache", {"cache_ttl": 3600})):

            def one(worker: int, extra: dict = extra) -> str | None:
                r = session[worker].get(f"{service.url}/create_snap", params={**base, **extra}, timeout=60)
                return None if r.status_code == 200 else str(r.status_code)

            results.append(run_workers(name, args.concurrency, args.count, None, one, progress=False))
    finally:
        if service is not None:
            service.stop()
        for server in (s3, redis):
            server.stop()
        pages.stop()
    rows = [r.summary() for r in results]
    fresh, cached = rows
    return {
        "rows": rows,
        "cache_p50_ratio": round(cached["p50_ms"] / fresh["p50_ms"], 3),
        "cache_throughput_ratio": round(cached["throughput_rps"] / fresh["throughput_rps"], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load_tests.delivery", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    jobs_parser = sub.add_parser("jobs")
    jobs_parser.add_argument("--count", type=int, default=1000)
    jobs_parser.add_argument("--kill-at", type=float, default=0.3, help="share of jobs delivered before the kill")
    cache_parser = sub.add_parser("cache")
    cache_parser.add_argument("--count", type=int, default=200)
    cache_parser.add_argument("--concurrency", "-c", type=int, default=2)
    for p in (jobs_parser, cache_parser):
        p.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.what == "jobs":
        report = jobs(args)
        print_report(report, list(report["rows"][0]), args.json)
        if report["rows"][0]["lost"]:
            sys.exit(1)
    else:
        report = cache(args)
        print_report(report, ["name", "concurrency", "requests", "ok", "throughput_rps", "p50_ms", "p95_ms"], args.json)


if __name__ == "__main__":
    main()
