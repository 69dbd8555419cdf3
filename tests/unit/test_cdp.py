"""The DevTools client (``service/browsers/cdp.py``) against a real websocket server in this process."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from service.browsers.cdp import CdpConnection, CdpError, CdpMessageTooLarge


class _Answers(tornado.websocket.WebSocketHandler):
    """Answers ``{"id": n, "method": "Echo", "params": {"size": k}}`` with ``k`` bytes of result."""

    def on_message(self, message: str | bytes) -> None:
        command = json.loads(message)
        if command["method"] == "Fail":
            self.write_message(json.dumps({"id": command["id"], "error": {"code": -32000, "message": "refused"}}))
            return
        self.write_message(json.dumps({"id": command["id"], "result": {"data": "x" * command["params"]["size"]}}))


@pytest.fixture
def devtools() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def listen() -> tornado.httpserver.HTTPServer:
        app = tornado.web.Application([(r"/devtools", _Answers)], websocket_max_message_size=1 << 30)
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        return server

    server = asyncio.run_coroutine_threadsafe(listen(), loop).result(5)
    yield f"ws://127.0.0.1:{sockets[0].getsockname()[1]}/devtools"

    async def stop() -> None:
        server.stop()
        await server.close_all_connections()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_a_message_over_the_limit_is_refused_before_it_is_read(devtools):
    cdp = CdpConnection(devtools, timeout=5, max_message=100_000)
    try:
        assert len(cdp.command("Echo", {"size": 90_000}, timeout=5)["data"]) == 90_000
        with pytest.raises(CdpMessageTooLarge, match="at most 100000"):
            cdp.command("Echo", {"size": 5_000_000}, timeout=5)
    finally:
        cdp.close()


def test_a_refused_command_is_not_a_lost_session(devtools):
    cdp = CdpConnection(devtools, timeout=5)
    try:
        with pytest.raises(CdpError) as refused:
            cdp.command("Fail", {}, timeout=5)
        assert not refused.value.session_gone
        assert CdpError("Page.navigate", -32001, "Session with given id not found.").session_gone
        assert cdp.command("Echo", {"size": 3}, timeout=5)["data"] == "xxx"
    finally:
        cdp.close()
