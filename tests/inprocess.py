"""The service in this process: ``make_app(build(...))`` served on a free loopback port by an IOLoop in
a thread, with fake browser sessions (``tests/fakes.py``), and Tornado's HTTP client to call it.
For tests of handlers, errors, auth, limits and metrics that need no browser."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import tornado.httpclient
import tornado.netutil

from service.app import Components, build, capture_policy, make_app, make_server
from service.capture import Backend
from service.config import Settings
from tests.fakes import FakeBrowser

TIMEOUT = 30.0


class InProcessService:
    def __init__(self, settings: Settings, browser: FakeBrowser, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.browser = browser
        policy = capture_policy(settings)
        factories = {Backend.GRID: browser.factory, Backend.LOCAL: browser.factory}
        self.components: Components = build(settings, policy, factories=factories, clock=clock)  # type: ignore[arg-type]
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="inprocess-ioloop", daemon=True)
        self._thread.start()
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"

        async def listen() -> Any:
            server = make_server(make_app(self.components), settings)
            server.add_sockets(sockets)
            self.components.jobs.start()
            self.components.monitoring.start()
            return server

        self.server = self.call(listen())

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the service's IOLoop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    def fetch(
        self,
        path: str,
        *,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tornado.httpclient.HTTPResponse:
        url = self.url + path + ("?" + urlencode(params, doseq=True) if params else "")

        async def go() -> tornado.httpclient.HTTPResponse:
            client = tornado.httpclient.AsyncHTTPClient()
            return await client.fetch(
                url,
                method=method,
                body=body if body is not None or method not in ("POST", "PUT") else b"",
                headers=headers,
                raise_error=False,
                allow_nonstandard_methods=True,
                request_timeout=TIMEOUT,
            )

        response: tornado.httpclient.HTTPResponse = self.call(go())
        return response

    def close(self) -> None:
        async def stop() -> None:
            self.server.stop()
            await self.server.close_all_connections()
            await self.components.monitoring.cancel()
            await self.components.jobs.cancel()
            await self.components.jobs.store.close()

        self.call(stop())
        self.components.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
