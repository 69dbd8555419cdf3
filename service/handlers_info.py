"""The handlers around the captures: the caller's jobs and usage, the API's description, metrics,
health, readiness, stored files and unknown paths."""

from __future__ import annotations

import tornado.web

from service.answers import DeviceList, DeviceView, to_json
from service.auth import ApiKeys
from service.browsers.breaker import CircuitBreaker
from service.config import Settings
from service.delivery.worker import JobRunner
from service.devices import load_devices
from service.errors import error_body
from service.health import Readiness
from service.images import BY_EXTENSION, TEXT_HEADERS
from service.metrics import Metrics
from service.openapi import served
from service.storage import LocalStorage
from service.tenancy import Tenancy
from service.web import BaseHandler, JsonErrors


class JobsHandler(BaseHandler):
    """``GET /jobs/{id}``: an async job's state, result or error, and its webhook attempts.  With API
    keys on, a job is shown only to the key that submitted it (others get 404)."""

    handler_name = "jobs"
    jobs: JobRunner
    api_keys: ApiKeys

    async def get(self, job_id: str) -> None:
        tenant = self.api_keys.check(self.request.headers, {}, method="POST")  # a key, not a signed URL
        job = await self.jobs.get(job_id)
        if job is None or job.tenant != tenant:
            raise tornado.web.HTTPError(404, "no such job (finished jobs are kept for SNAPSHOT_JOB_TTL)")
        self.write_json(self.jobs.view(job))


class OpenApiHandler(BaseHandler):
    handler_name = "openapi"
    settings_: Settings

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(served(self.settings_))  # made once, for this service's settings


class MetricsHandler(BaseHandler):
    handler_name = "metrics"
    metrics: Metrics

    def get(self) -> None:
        body, content_type = self.metrics.exposition(self.request.headers.get("Accept", ""))
        self.set_header("Content-Type", content_type)
        self.finish(body)


class HealthzHandler(BaseHandler):
    handler_name = "healthz"

    def get(self) -> None:
        self.write_json({"status": "ok"})


class ReadyzHandler(BaseHandler):
    handler_name = "readyz"

    readiness: Readiness
    breaker: CircuitBreaker | None = None

    async def get(self) -> None:
        if self.readiness.shutting_down:
            self.write_json({**error_body("shutting_down", "the service is shutting down"), "checks": {}}, 503)
            return
        results = await self.readiness.results()
        optional = self.readiness.optional
        failed = {name: why for name, why in results.items() if why is not None and name not in optional}
        checks = {
            name: "ok" if why is None else f"{'degraded' if name in optional else 'failed'}: {why}"
            for name, why in results.items()
        }
        if self.breaker is not None:
            state = self.breaker.state.value
            checks["grid_circuit"] = state if state == "closed" else f"{state} (captures fall back to local)"
        if failed:
            message = "; ".join(f"{name}: {why}" for name, why in failed.items())
            self.error_code, self.error_message = "not_ready", message  # in the request log too
            self.write_json({**error_body("not_ready", message), "checks": checks, **self.readiness.facts}, 503)
        else:
            self.write_json({"status": "ok", "checks": checks, **self.readiness.facts})


class DevicesHandler(BaseHandler):
    """``GET /devices``: the devices the ``device`` option names (Playwright's registry, with its version)."""

    handler_name = "devices"
    settings_: Settings

    def get(self) -> None:
        devices = load_devices(self.settings_.devices_file)
        listed = [DeviceView(**vars(device)) for device in devices.by_name.values()]
        self.write_json(to_json(DeviceList(devices.source, listed)))


class UsageHandler(BaseHandler):
    """``GET /usage``: the calling tenant's own limits, quota left and usage (nothing of other tenants),
    and the secret its webhooks are signed with.  Needs a key (not a signed URL) when keys are on."""

    handler_name = "usage"
    api_keys: ApiKeys
    tenancy: Tenancy
    settings_: Settings

    async def get(self) -> None:
        caller = self.api_keys.identify(self.request.headers, {}, method="POST")  # a key, not a signed URL
        secret = self.tenancy.tenants.webhook_secret(caller.id, self.settings_.webhook_secret)
        usage = await self.tenancy.usage(caller.id, secret if caller.tenant is not None else None)
        self.write_json(to_json(usage))


class FilesHandler(JsonErrors, tornado.web.StaticFileHandler):
    """Serves locally stored captures (the embedded default storage)."""

    handler_name = "files"
    storage: LocalStorage

    def initialize(self, path: str, storage: LocalStorage) -> None:  # type: ignore[override]
        super().initialize(path)
        self.storage = storage

    def prepare(self) -> None:
        key = self.path_args[0] if self.path_args else ""
        expires, signature = self.get_query_argument("expires", ""), self.get_query_argument("signature", "")
        if not self.storage.verify(key, expires, signature):
            raise tornado.web.HTTPError(403, "the file URL has expired or its signature is not valid")

    def get_content_type(self) -> str:
        return BY_EXTENSION.get((self.absolute_path or "").rsplit(".", 1)[-1], "application/octet-stream")

    def set_extra_headers(self, path: str) -> None:
        if self.get_content_type().startswith("text/"):  # a page's content: nothing of it runs here
            for name, value in TEXT_HEADERS.items():
                self.set_header(name, value)


class NotFoundHandler(BaseHandler):
    handler_name = "not_found"

    def prepare(self) -> None:
        raise tornado.web.HTTPError(404, "no such endpoint")
