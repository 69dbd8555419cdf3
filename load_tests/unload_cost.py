"""What the reset's unload costs: a direct CDP loop on one Chromium with the service's flags, each cycle
a capture (navigate, load, PNG screenshot) and then either

- ``reset``: the reset's sequence: about:blank (the page unloads: its pagehide and unload handlers
  run), then cookies, the page's origin's storage and the HTTP cache cleared; or
- ``clears``: the same clears with no navigation: the page stays loaded until the next capture
  navigates away (what ``tests/integration/test_isolation.py`` forbids: its unload writes would outlive the clears).

The two alternate ``--rounds`` times (the machine drifts), ``--count`` cycles each, and the table gives
the capture's p50, whole-machine CPU per cycle and its split per process kind. The difference is the
floor isolation puts on every capture, which the raw WebDriver loop and a warm Playwright page do not
pay::

    python -m load_tests.unload_cost --count 60 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from load_tests.cpu import CpuMeter
from load_tests.playwright_paths import CHROMIUM
from load_tests.stats import table
from service.browsers.cdp import CdpConnection
from service.browsers.chrome import CHROME_ARGS
from service.browsers.isolation import STORAGE_TYPES
from tests.servers import PageServer, Proc, free_port, http_get_json, wait_until

MODES = ("reset", "clears")
_TIMEOUT = 10.0


@dataclass
class ModeResult:
    mode: str
    cycles: int = 0
    loads: int = 0  # load events seen: two per cycle when the reset navigates
    capture_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # whole machine, per cycle, one entry per round
    by_process: dict[str, list[float]] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "cycles": self.cycles,
            "capture p50": round(statistics.median(self.capture_ms), 1),
            "CPU/cycle": " / ".join(f"{ms:.0f}" for ms in self.cpu_ms),
            **{kind: round(statistics.mean(ms), 1) for kind, ms in self.by_process.items()},
        }


class Tab:
    """One Chromium with the service's flags and its first tab, driven over CDP."""

    def __init__(self, width: int, height: int) -> None:
        port = free_port()
        self._profile = tempfile.TemporaryDirectory()
        args = [
            CHROMIUM,
            *CHROME_ARGS,
            "--no-sandbox",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={self._profile.name}",
        ]
        self._process = Proc.start("chromium", args)
        try:
            version = f"http://127.0.0.1:{port}/json/version"
            wait_until(lambda: http_get_json(version), _TIMEOUT, "Chromium's DevTools", self._process)
            self.cdp = CdpConnection(http_get_json(version)["webSocketDebuggerUrl"], timeout=_TIMEOUT)
            targets = self.cdp.command("Target.getTargets", {}, timeout=_TIMEOUT)["targetInfos"]
            target = next(t["targetId"] for t in targets if t["type"] == "page")
            attach = {"targetId": target, "flatten": True}
            self.session: str = self.cdp.command("Target.attachToTarget", attach, timeout=_TIMEOUT)["sessionId"]
            self.loads = 0
            self.cdp.on_event = self._on_event
            self.command("Page.enable", {})
            metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
            self.command("Emulation.setDeviceMetricsOverride", metrics)
        except BaseException:
            self.close()
            raise

    def _on_event(self, message: dict[str, Any]) -> None:
        if message.get("sessionId") == self.session and message["method"] == "Page.loadEventFired":
            self.loads += 1

    def command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.cdp.command(method, params, session=self.session, timeout=_TIMEOUT)

    def load(self, url: str) -> None:
        loads = self.loads
        self.command("Page.navigate", {"url": url})
        self.cdp.wait(url, lambda: self.loads > loads, timeout=_TIMEOUT)

    def capture(self, url: str) -> None:
        self.load(url)
        self.command("Page.captureScreenshot", {"format": "png", "fromSurface": True, "optimizeForSpeed": True})

    def after(self, mode: str, origin: str) -> None:
        if mode == "reset":
            self.load("about:blank")
        clears = [
            ("Network.clearBrowserCookies", {}, self.session),
            ("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": STORAGE_TYPES}, self.session),
            ("Network.clearBrowserCache", {}, self.session),
        ]
        self.cdp.batch(clears, timeout=_TIMEOUT)

    def close(self) -> None:
        if hasattr(self, "cdp"):
            self.cdp.close()
        self._process.stop()  # the browser and every process of its group
        self._profile.cleanup()


def measure(count: int, rounds: int, width: int = 1000, height: int = 1000, cards: int = 200) -> list[ModeResult]:
    pages = PageServer()
    tab: Tab | None = None
    try:
        tab = Tab(width, height)
        url = f"{pages.base}/cards?n={cards}"
        results = {mode: ModeResult(mode) for mode in MODES}
        for mode in MODES:  # warm up both
            for _ in range(3):
                tab.capture(url)
                tab.after(mode, pages.base)
        for _ in range(rounds):
            for mode, result in results.items():
                loads = tab.loads
                with CpuMeter() as meter:
                    for _ in range(count):
                        started = time.perf_counter()
                        tab.capture(url)
                        result.capture_ms.append(1000 * (time.perf_counter() - started))
                        tab.after(mode, pages.base)
                result.cycles += count
                result.loads += tab.loads - loads
                result.cpu_ms.append(meter.per_capture_ms(count))
                for kind, ms in meter.by_process_ms(count).items():
                    result.by_process.setdefault(kind.removeprefix("chromium "), []).append(ms)
        return list(results.values())
    finally:
        if tab is not None:
            tab.close()
        pages.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", "-n", type=int, default=60, help="cycles per mode and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cards", type=int, default=200)
    args = parser.parse_args()
    results = measure(args.count, args.rounds, cards=args.cards)
    rows = [result.row() for result in results]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    print(table(rows, columns))


if __name__ == "__main__":
    main()
