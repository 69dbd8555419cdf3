"""Tracing benchmark: the capture path with traces exported and without, side by side in one run.

    python -m load_tests.tracing [--count 60] [--json]

Starts a page server, an OTLP/HTTP receiver (``tests/otlp.py``, decoding every span it gets) and two services in
their embedded default (one local Chromium each): ``off`` without any ``OTEL_*`` setting, ``on`` exporting every
span (``parentbased_always_on``) to the receiver.  Each captures a page of 40 cards one at a time, 1000x1000, a
caller's sampled ``traceparent`` on every request; the two alternate in rounds so that drift hits both.  Prints
p50/p95, CPU per capture (the whole machine, and the service process alone: the receiver's decoding is not the
service's cost) and the ratios ``on / off``; and how many spans the receiver got per capture.
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests.cpu import CpuMeter
from load_tests.egress import plain_page
from load_tests.load import QUIET_LOCAL, benchmark_parser, service_load, wrap_up
from load_tests.stats import RunResult, print_report
from tests.otlp import OtlpReceiver
from tests.servers import PageServer, Service, browser_processes, start_service

COLUMNS = ["name", "ok", "p50_ms", "p95_ms", "cpu_ms", "service_cpu_ms", "errors"]
ROUNDS = 3
SIZE = 1000


def _measure(service: Service, page: str, count: int, name: str) -> tuple[RunResult, float, float]:
    headers = {"traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"}
    meter = CpuMeter(service.proc.popen.pid)
    result = service_load(service.url, page, SIZE, SIZE, 1, count, name=name, progress=False, meter=meter,
                          headers=headers)  # fmt: skip
    return result, meter.per_capture_ms(count), meter.by_process_ms(count).get("service", 0.0)


def main(argv: list[str] | None = None) -> None:
    args = benchmark_parser("python -m load_tests.tracing", __doc__, count=60).parse_args(argv)
    report: dict = {"size": f"{SIZE}x{SIZE}", "rounds": ROUNDS}
    before = browser_processes()
    pages = PageServer()
    services: dict[str, Service] = {}
    with OtlpReceiver() as receiver:
        try:
            pages.routes["/plain"] = lambda q: plain_page()
            services["off"] = start_service(QUIET_LOCAL)
            services["on"] = start_service({**QUIET_LOCAL, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                                            "OTEL_BSP_SCHEDULE_DELAY": "200"})  # fmt: skip
            page = pages.base + "/plain"
            for service in services.values():  # warm: a browser each, the exporter's first batch
                service_load(service.url, page, SIZE, SIZE, 1, 3, progress=False)
            time.sleep(0.5)  # the warm-up's spans exported
            spans_before = len(receiver.spans())
            per_round = max(1, args.count // ROUNDS)
            parts: dict[str, list[tuple[RunResult, float, float]]] = {"off": [], "on": []}
            for number in range(ROUNDS):
                for name in ("off", "on") if number % 2 == 0 else ("on", "off"):
                    parts[name].append(_measure(services[name], page, per_round, name))
            rows = []
            for name, measured in parts.items():
                merged = RunResult.merge(name, [result for result, _, _ in measured])
                cpu = round(sum(c for _, c, _ in measured) / len(measured), 1)
                service_cpu = round(sum(s for _, _, s in measured) / len(measured), 1)
                rows.append({**merged.summary(), "cpu_ms": cpu, "service_cpu_ms": service_cpu})
            report["rows"] = rows
            off, on = rows
            report["ratios"] = {
                "p50 on / off": round(on["p50_ms"] / off["p50_ms"], 2),
                "cpu on / off": round(on["cpu_ms"] / off["cpu_ms"], 2),
                "service cpu on / off": round(on["service_cpu_ms"] / max(0.1, off["service_cpu_ms"]), 2),
            }
            captures = per_round * ROUNDS
            time.sleep(0.5)
            report["spans_per_capture"] = round((len(receiver.spans()) - spans_before) / captures, 1)
        finally:
            for service in services.values():
                service.stop()
            wrap_up(report, None, [pages], before)
            report["service_leftover_processes"] = sum(s.proc.leftovers for s in services.values())
    print_report(report, COLUMNS, args.json)


if __name__ == "__main__":
    main()
