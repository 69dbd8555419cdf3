"""``/monitors``: visual monitors, made, listed, shown, run now and deleted by their owners (``service/monitoring.py``).

A monitor belongs to the API key (or tenant) that made it; another key gets 404.  Without API keys every caller
is the same anonymous owner.  Keys go in a header: signed URLs are for captures."""

from __future__ import annotations

import tornado.web

from service.auth import ApiKeys
from service.config import Settings
from service.errors import InvalidRequest
from service.monitoring import Monitoring
from service.monitors import Monitor
from service.web import BaseHandler, ParamsHandler, trusted_base_url


class _MonitorHandler(BaseHandler):
    handler_name = "monitors"
    monitoring: Monitoring
    api_keys: ApiKeys
    settings_: Settings

    def _owner(self) -> str:
        return self.api_keys.check(self.request.headers, {}, method="POST")  # a key, not a signed URL

    async def _mine(self, monitor_id: str) -> Monitor:
        monitor = await self.monitoring.owned(self._owner(), monitor_id)
        if monitor is None:
            raise tornado.web.HTTPError(404, "no such monitor")
        return monitor


@tornado.web.stream_request_body
class MonitorsHandler(_MonitorHandler, ParamsHandler):
    """``POST /monitors`` (a JSON body, read like a capture's) makes one (201); ``GET /monitors`` lists the
    caller's."""

    def prepare(self) -> None:
        self._start_body(self.settings_.max_capture_body)

    async def get(self) -> None:
        monitors = await self.monitoring.mine(self._owner())
        self.write_json({"monitors": [self.monitoring.view(m) for m in monitors]})

    async def post(self) -> None:
        owner = self._owner()
        self._parse_body()
        body = self._json_body()
        if body is None:
            raise InvalidRequest("send the monitor as a JSON object (application/json): its capture and every",
                                 code="malformed_body")  # fmt: skip
        base_url = trusted_base_url(self.request, self.settings_.public_base_url)
        monitor = await self.monitoring.create(owner, body, base_url)
        self.set_header("Location", f"/monitors/{monitor.id}")
        self.write_json(self.monitoring.view(monitor), 201)


class MonitorHandler(_MonitorHandler):
    """``GET /monitors/{id}`` (with its last run), ``DELETE /monitors/{id}``."""

    async def get(self, monitor_id: str) -> None:
        self.write_json(self.monitoring.view(await self._mine(monitor_id)))

    async def delete(self, monitor_id: str) -> None:
        await self.monitoring.delete(await self._mine(monitor_id))
        self.set_status(204)
        await self.finish()


class MonitorRunHandler(_MonitorHandler):
    """``POST /monitors/{id}/run``: a run as soon as possible (202); its result shows in ``GET /monitors/{id}``."""

    async def post(self, monitor_id: str) -> None:
        monitor = await self._mine(monitor_id)
        await self.monitoring.run_now(monitor)
        self.write_json(self.monitoring.view(monitor), 202)
