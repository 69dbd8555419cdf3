"""CPU used during a benchmark run: the whole machine's (``/proc/stat``) and, per kind of process, that
of the processes alive at the end of the run (``/proc/<pid>/stat``).

    with CpuMeter(service_pid) as meter:
        ...
    meter.per_capture_ms(captures)   # whole machine, CPU milliseconds per capture
    meter.by_process_ms(captures)    # {"service": .., "renderer": .., "browser": .., ...}

Chromium's processes are told apart by their ``--type`` (renderer, gpu-process, and the utility
processes by their ``--utility-sub-type``: the network service, the storage service...).  A process
that started and ended inside the run (a fresh context's renderer) is missed by the per-process
split, never by the whole machine's figure.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_ticks() -> int:
    """All CPUs' busy time since boot: user, nice, system, irq and softirq of the ``cpu`` line (not idle,
    iowait, the time the hypervisor stole, nor guest time, which user already counts)."""
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in Path("/proc/stat").read_text().split()[1:8])
    return user + nice + system + irq + softirq


def _process_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _kind(pid: int, service_pids: set[int]) -> str:
    if pid in service_pids:
        return "service"
    if pid == os.getpid():
        return "benchmark client + page server"
    args = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    if len(args) == 1:  # Chromium's children rewrite their command line as one string
        args = args[0].split(b" ")
    program = os.path.basename(args[0].decode(errors="replace")) if args and args[0] else ""
    text = b" ".join(args).decode(errors="replace")
    if "chromedriver" in program:
        return "chromedriver"
    if "chrom" in program:
        for arg in args:
            if arg.startswith(b"--utility-sub-type="):
                return "chromium " + arg.split(b"=", 1)[1].decode().rsplit(".", 1)[-1]
        for arg in args:
            if arg.startswith(b"--type="):
                return "chromium " + arg.split(b"=", 1)[1].decode()
        return "chromium browser"
    if program == "java":
        return "grid (java)"
    if "playwright" in text:
        return "playwright driver"
    return ""


def process_ticks(service_pids: set[int]) -> dict[int, tuple[str, int]]:
    """Every interesting process's kind and CPU ticks so far."""
    found: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            kind = _kind(pid, service_pids)
            if kind:
                found[pid] = (kind, _process_ticks(pid))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return found


class CpuMeter:
    def __init__(self, service_pid: int | None = None) -> None:
        self.service_pids = {service_pid} if service_pid else set()
        self.machine = 0
        self.processes: dict[str, int] = {}

    def __enter__(self) -> CpuMeter:
        self._start_machine = machine_busy_ticks()
        self._start = process_ticks(self.service_pids)
        return self

    def __exit__(self, *exc: object) -> None:
        self.machine = machine_busy_ticks() - self._start_machine
        totals: dict[str, int] = {}
        for pid, (kind, ticks) in process_ticks(self.service_pids).items():
            before = self._start.get(pid)
            used = ticks - (before[1] if before is not None and before[0] == kind else 0)
            totals[kind] = totals.get(kind, 0) + used
        self.processes = totals

    def per_capture_ms(self, captures: int) -> float:
        return round(1000 * self.machine / _TICK / max(1, captures), 1)

    def by_process_ms(self, captures: int) -> dict[str, float]:
        """CPU ms per capture of each kind of process that used any."""
        per = {kind: round(1000 * ticks / _TICK / max(1, captures), 1) for kind, ticks in self.processes.items()}
        return {kind: ms for kind, ms in sorted(per.items(), key=lambda kv: -kv[1]) if ms > 0}
