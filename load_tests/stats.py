"""Latency statistics and result tables shared by the load tools."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of values; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class RunResult:
    name: str
    concurrency: int
    elapsed: float
    latencies: list[float] = field(default_factory=list)  # successful requests, seconds
    errors: Counter = field(default_factory=Counter)  # status (or exception name) -> count

    @classmethod
    def merge(cls, name: str, parts: list[RunResult]) -> RunResult:
        """One result of several runs of the same path (a benchmark's rounds)."""
        errors: Counter = Counter()
        for part in parts:
            errors.update(part.errors)
        latencies = [latency for part in parts for latency in part.latencies]
        return cls(name, parts[0].concurrency, sum(p.elapsed for p in parts), latencies, errors)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> dict:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "requests": self.ok + sum(self.errors.values()),
            "ok": self.ok,
            "errors": dict(self.errors),
            "elapsed_s": round(self.elapsed, 3),
            "throughput_rps": round(self.throughput, 3),
            "p50_ms": round(1000 * percentile(self.latencies, 50), 1),
            "p95_ms": round(1000 * percentile(self.latencies, 95), 1),
            "p99_ms": round(1000 * percentile(self.latencies, 99), 1),
        }


def table(rows: list[dict], columns: list[str]) -> str:
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def print_report(report: dict, columns: list[str], as_json: bool) -> None:
    """A benchmark's report: its ``rows`` as a table, then the rest; or all of it as JSON."""
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(table(report["rows"], columns))
        print({k: v for k, v in report.items() if k != "rows"})


__all__ = ["RunResult", "asdict", "percentile", "print_report", "table"]
