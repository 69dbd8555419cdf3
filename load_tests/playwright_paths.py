"""What a user would otherwise write: Playwright scripts (its async API, on the Debian Chromium).

  warm_page      one warm page per worker, goto + screenshot, never cleaned up (no isolation)
  fresh_context  a new browser context (a fresh incognito profile) per capture, closed after it

Both launch ``/usr/bin/chromium`` with the same flags as the raw WebDriver loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from load_tests.cpu import CpuMeter
from load_tests.stats import RunResult

CHROMIUM = "/usr/bin/chromium"


async def _workers(
    result: RunResult, concurrency: int, count: int, one: Callable[[int], Awaitable[None]], meter: CpuMeter | None
) -> None:
    issued = 0
    finished: list[float] = []
    started = time.perf_counter()

    async def worker(index: int) -> None:
        nonlocal issued
        while issued < count:
            issued += 1
            t0 = time.perf_counter()
            try:
                await one(index)
            except Exception as exc:
                result.errors[type(exc).__name__] += 1
            else:
                result.latencies.append(time.perf_counter() - t0)
        finished.append(time.perf_counter())

    with meter or contextlib.nullcontext():
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.elapsed = max(finished, default=time.perf_counter()) - started


async def _run(
    name: str, args: list[str], concurrency: int, body: Callable[[Any, RunResult], Awaitable[None]]
) -> RunResult:
    from playwright.async_api import async_playwright

    result = RunResult(name, concurrency, 0.0)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            await body(browser, result)
        finally:
            await browser.close()
    return result


def warm_page(
    page_url: str,
    width: int,
    height: int,
    concurrency: int,
    count: int,
    args: list[str],
    *,
    kind: str = "png",
    full_page: bool = False,
    meter: CpuMeter | None = None,
    name: str = "pw-warm",
    pdf_options: dict[str, Any] | None = None,
    clip_height: int | None = None,
) -> RunResult:
    """goto + screenshot (``kind``: png, jpeg at quality 80, or pdf: A4 with backgrounds and ``pdf_options``)
    on one warm page per worker; ``full_page``: the whole page (its first ``clip_height`` rows, if given)."""
    clip = {"clip": {"x": 0, "y": 0, "width": width, "height": clip_height}} if clip_height else {}

    async def body(browser: Any, result: RunResult) -> None:
        pages = [await browser.new_page(viewport={"width": width, "height": height}) for _ in range(concurrency)]
        for page in pages:  # warm up
            await page.goto(page_url)

        async def one(worker: int) -> None:
            page = pages[worker]
            await page.goto(page_url, wait_until="load")
            if kind == "pdf":
                await page.pdf(**{"format": "A4", "print_background": True, **(pdf_options or {})})
            elif kind == "jpeg":
                await page.screenshot(type="jpeg", quality=80, full_page=full_page, **clip)
            else:
                await page.screenshot(type="png", full_page=full_page, **clip)

        await _workers(result, concurrency, count, one, meter)

    return asyncio.run(_run(name, args, concurrency, body))


def fresh_context(
    page_url: str, width: int, height: int, concurrency: int, count: int, args: list[str], meter: CpuMeter | None = None
) -> RunResult:
    """A new context per capture: new page, goto, screenshot, close the context."""

    async def body(browser: Any, result: RunResult) -> None:
        async def one(worker: int) -> None:
            context = await browser.new_context(viewport={"width": width, "height": height})
            try:
                page = await context.new_page()
                await page.goto(page_url, wait_until="load")
                await page.screenshot(type="png")
            finally:
                await context.close()

        await one(0)  # warm up
        await _workers(result, concurrency, count, one, meter)

    return asyncio.run(_run("pw-context", args, concurrency, body))


def warm_runs(
    url: str, width: int, height: int, count: int, args: list[str], runs: dict[str, dict[str, Any]], pid: int
) -> tuple[dict[str, RunResult], dict[str, float]]:
    """Each of ``runs`` (its name, and ``warm_page``'s keywords) one at a time on a warm page; its result and
    the whole machine's CPU per capture (with the process ``pid``'s)."""
    results: dict[str, RunResult] = {}
    cpu: dict[str, float] = {}
    for name, keywords in runs.items():
        meter = CpuMeter(pid)
        results[name] = warm_page(url, width, height, 1, count, args, meter=meter, name=name, **keywords)
        cpu[name] = meter.per_capture_ms(count)
    return results, cpu
