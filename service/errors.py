"""Domain exceptions.  Domain code raises these; the HTTP layer maps them to status + JSON.

Each class carries the HTTP status, the stable machine-readable ``code`` clients see in
``{"status": "error", "error": code, "message": ...}``, and the :class:`~service.capture.Outcome` it
counts as in the metrics and the request log.
"""

from __future__ import annotations

from service.answers import ErrorBody, ErrorDetail, to_json
from service.capture import Outcome


def error_body(
    code: str, message: str, details: list[dict[str, str]] | None = None, evidence_url: str | None = None
) -> dict[str, object]:
    """The one shape of every error clients see (``answers.ErrorBody``): HTTP answers, failed jobs, readiness."""
    items = [ErrorDetail(**d) for d in details] if details else None
    return to_json(ErrorBody(code, message, details=items, evidence_url=evidence_url))


class SnapshotError(Exception):
    status = 500
    code = "internal_error"
    outcome: Outcome = Outcome.INTERNAL
    retry_after: int | None = None
    details: list[dict[str, str]] | None = None  # per parameter, for validation errors
    # what clients are told instead of ``message`` when that names the service's own dependencies
    # (hosts, buckets, the Grid's URL): the details go to the log only
    public: str | None = None
    # evidence=true: the page as it was at the failure (PNG), where it is stored, and its URL for this answer
    evidence: bytes | None = None
    evidence_key: str | None = None
    evidence_url: str | None = None

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after is not None:
            self.retry_after = retry_after

    def body(self) -> dict[str, object]:
        """The JSON error body clients see (HTTP answers, failed jobs)."""
        return error_body(self.code, self.public or self.message, self.details, self.evidence_url)


class InvalidRequest(SnapshotError):
    status = 400
    code = "invalid_request"
    outcome = Outcome.INVALID

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code
        self.details = details


class SelectorNotFound(SnapshotError):
    """A selector the capture needs (``selector``, ``click``) matches no visible element."""

    status = 422
    code = "selector_not_found"
    outcome = Outcome.INVALID


class ScriptFailed(SnapshotError):
    """A script of the ``scripts`` option threw."""

    status = 422
    code = "script_failed"
    outcome = Outcome.INVALID


class TargetHttpError(SnapshotError):
    """``fail_on_http_error``: the page's document answered 4xx or 5xx."""

    status = 424
    code = "target_http_error"
    outcome = Outcome.TARGET_HTTP_ERROR


class OutputTooLarge(SnapshotError):
    """The image or PDF is over ``SNAPSHOT_MAX_IMAGE_BYTES`` or ``SNAPSHOT_MAX_PDF_PAGES``."""

    status = 400
    code = "output_too_large"
    outcome = Outcome.INVALID


class ContentTooLarge(SnapshotError):
    """An ``html`` or ``markdown`` body over ``SNAPSHOT_MAX_HTML_BYTES``."""

    status = 413
    code = "content_too_large"
    outcome = Outcome.INVALID


class Blocked(SnapshotError):
    """The target is not allowed by the network policy."""

    status = 403
    code = "blocked"
    outcome = Outcome.BLOCKED


class LocalModeRefused(SnapshotError):
    status = 403
    code = "localmode_refused"
    outcome = Outcome.INVALID


class TargetUnreachable(SnapshotError):
    """The page could not be loaded: DNS failure, refused connection, TLS error..."""

    status = 502
    code = "unreachable"
    outcome = Outcome.UNREACHABLE


class CaptureFailed(SnapshotError):
    """The browser refused a command for this page or these options (the session itself is fine): no
    retry, and it counts as no failure of the Grid."""

    status = 502
    code = "capture_failed"
    outcome = Outcome.UNREACHABLE


class CaptureTimeout(SnapshotError):
    status = 504
    code = "timeout"
    outcome = Outcome.TIMEOUT


class Overloaded(SnapshotError):
    """The admission queue is full."""

    status = 429
    code = "overloaded"
    outcome = Outcome.OVERLOADED
    retry_after = 1


class QuotaExceeded(SnapshotError):
    """The caller's tenant used its quota for this window (service/tenancy.py)."""

    status = 429
    code = "quota_exceeded"
    outcome = Outcome.OVERLOADED


class QuotaUnavailable(SnapshotError):
    """The tenant has a quota and Redis, which counts it across replicas, does not answer."""

    status = 503
    code = "quota_unavailable"
    outcome = Outcome.BACKEND_UNAVAILABLE
    retry_after = 5


class BackendUnavailable(SnapshotError):
    """No browser session could be had (Grid down, no capacity, browser failed)."""

    status = 503
    code = "backend_unavailable"
    outcome = Outcome.BACKEND_UNAVAILABLE
    retry_after = 5
    public = "no browser session could be had; try again shortly"


class StorageError(SnapshotError):
    status = 503
    code = "storage_error"
    outcome = Outcome.STORAGE_ERROR
    retry_after = 5
    public = "the result could not be stored or read; try again shortly"


class JobsUnavailable(SnapshotError):
    """The job store (Redis) did not answer: a job cannot be accepted or read now."""

    status = 503
    code = "jobs_unavailable"
    outcome = Outcome.BACKEND_UNAVAILABLE
    retry_after = 5
    public = "the job store is not reachable; try again shortly"


class ClientGone(SnapshotError):
    """The client disconnected; the capture was abandoned (nobody reads this answer)."""

    status = 499
    code = "client_closed_request"
    outcome = Outcome.CANCELLED


class ShuttingDown(SnapshotError):
    status = 503
    code = "shutting_down"
    outcome = Outcome.OVERLOADED
    retry_after = 1


class MonitorConflict(SnapshotError):
    """A monitor cannot be made: its owner has one of that name, or the service has SNAPSHOT_MAX_MONITORS."""

    status = 409
    code = "monitor_conflict"
    outcome = Outcome.INVALID
