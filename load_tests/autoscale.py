"""Watch KEDA scale the Chrome nodes during a load run on a real cluster.

    python -m load_tests.autoscale --service http://snapshot.example.com --page https://example.com \\
        --grid-url http://selenium-grid-hub.selenium:4444 --namespace selenium \\
        --deployment selenium-grid-node-chrome -c 8 -n 400 [--settle 600] [--json]

Needs a kubeconfig (or an in-cluster service account). It samples every 2 s the node Deployment's
replicas, its ready pods and the Grid's session queue (/graphql) while the load runs and afterwards
until the nodes are back at their starting count (or --settle seconds pass), then reports the time to
scale up, the time until the new nodes were ready, and the time to scale down.  Without a cluster it
says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass

from load_tests.load import parse_size, service_load
from service.browsers.grid import GridApi


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the load started
    replicas: int  # desired replicas (what KEDA/HPA set)
    ready: int  # ready node pods
    queue: int  # the Grid's session queue size (-1 if unknown)


def sample_from(t: float, deployment: dict, pods: dict, graphql: dict | None) -> Sample:
    """A Sample from recorded API answers: a Deployment, a PodList (as JSON) and the Grid's /graphql."""
    replicas = int(deployment.get("spec", {}).get("replicas") or 0)
    ready = 0
    for pod in pods.get("items", []):
        conditions = pod.get("status", {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            ready += 1
    queue = -1
    if graphql is not None:
        queue = int(graphql.get("data", {}).get("grid", {}).get("sessionQueueSize", -1))
    return Sample(t, replicas, ready, queue)


def analyze(samples: list[Sample], load_end: float) -> dict:
    """Time to scale up (first replica increase), to ready (ready pods reach the peak replicas) and to
    scale down (back at the starting replicas after the load ended), in seconds; None when not seen."""
    if not samples:
        return {"samples": 0}
    start = samples[0].replicas
    peak = max(s.replicas for s in samples)
    up = next((s.t for s in samples if s.replicas > start), None)
    ready = next((s.t for s in samples if peak > start and s.ready >= peak), None)
    down = next((s.t - load_end for s in samples if s.t >= load_end and up is not None and s.replicas <= start), None)
    return {
        "samples": len(samples),
        "start_replicas": start,
        "peak_replicas": peak,
        "peak_queue": max(s.queue for s in samples),
        "time_to_scale_up_s": up,
        "time_to_ready_s": ready,
        "time_to_scale_down_after_load_s": down,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load_tests.autoscale", description=__doc__.split("\n")[0])
    parser.add_argument("--service", required=True)
    parser.add_argument("--page", required=True)
    parser.add_argument("--grid-url", required=True, help="the Grid as reachable from here (for /graphql)")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--deployment", default="selenium-grid-node-chrome")
    parser.add_argument("--selector", default="app.kubernetes.io/name=selenium-node-chrome")
    parser.add_argument("--concurrency", "-c", type=int, default=8)
    parser.add_argument("--count", "-n", type=int, default=400)
    parser.add_argument("--size", default="1000x1000")
    parser.add_argument("--settle", type=float, default=600, help="seconds to wait for scale-down after the load")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    try:
        from kubernetes import client, config

        try:
            config.load_kube_config()
        except Exception:
            config.load_incluster_config()
        apps, core = client.AppsV1Api(), client.CoreV1Api()
        apps.read_namespaced_deployment(args.deployment, args.namespace)
    except Exception as exc:
        print(f"no Kubernetes cluster reachable ({type(exc).__name__}: {exc}); skipping the autoscaling run")
        return

    def queue_answer() -> dict | None:
        try:
            return {"data": GridApi(args.grid_url).graphql("{ grid { sessionQueueSize } }", timeout=5)}
        except Exception:
            return None

    width, height = parse_size(args.size)
    samples: list[Sample] = []
    started = time.monotonic()
    load_end: list[float] = []

    def load() -> None:
        service_load(args.service, args.page, width, height, args.concurrency, args.count, progress=False)
        load_end.append(time.monotonic() - started)

    runner = threading.Thread(target=load, daemon=True)
    runner.start()
    while True:
        t = time.monotonic() - started
        deployment = client.ApiClient().sanitize_for_serialization(
            apps.read_namespaced_deployment(args.deployment, args.namespace)
        )
        pods = client.ApiClient().sanitize_for_serialization(
            core.list_namespaced_pod(args.namespace, label_selector=args.selector)
        )
        samples.append(sample_from(t, deployment, pods, queue_answer()))
        print(
            f"\rt={t:.0f}s replicas={samples[-1].replicas} ready={samples[-1].ready} queue={samples[-1].queue}",
            end="",
            file=sys.stderr,
        )
        if load_end and (samples[-1].replicas <= samples[0].replicas or t - load_end[0] > args.settle):
            break
        time.sleep(2)
    print(file=sys.stderr)
    report = analyze(samples, load_end[0])
    if args.json:
        print(json.dumps({**report, "samples": [asdict(s) for s in samples]}))
    else:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
