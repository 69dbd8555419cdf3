"""Domain exceptions.  Domain code raises these; the HTTP layer maps them to status + JSON.

Each class carries the HTTP status, the stable machine-readable ``code`` clients see in
``{"status": "error", "error": code, "message": ...}``, and the ``reason`` label used in metrics.
"""

from __future__ import annotations


class SnapshotError(Exception):
    status = 500
    code = "internal_error"
    reason = "internal"
    retry_after: int | None = None

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after is not None:
            self.retry_after = retry_after


class InvalidRequest(SnapshotError):
    status = 400
    code = "invalid_request"
    reason = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class Blocked(SnapshotError):
    """The target is not allowed by the network policy."""

    status = 403
    code = "blocked"
    reason = "blocked"


class LocalModeRefused(SnapshotError):
    status = 403
    code = "localmode_refused"
    reason = "invalid"


class TargetUnreachable(SnapshotError):
    """The page could not be loaded: DNS failure, refused connection, TLS error..."""

    status = 502
    code = "unreachable"
    reason = "unreachable"


class CaptureTimeout(SnapshotError):
    status = 504
    code = "timeout"
    reason = "timeout"


class Overloaded(SnapshotError):
    """The admission queue is full."""

    status = 429
    code = "overloaded"
    reason = "overloaded"
    retry_after = 1


class BackendUnavailable(SnapshotError):
    """No browser session could be had (Grid down, no capacity, browser failed)."""

    status = 503
    code = "backend_unavailable"
    reason = "backend_unavailable"
    retry_after = 5


class StorageError(SnapshotError):
    status = 503
    code = "storage_error"
    reason = "storage_error"
    retry_after = 5


class ClientGone(SnapshotError):
    """The client disconnected; the capture was abandoned (nobody reads this answer)."""

    status = 499
    code = "client_closed_request"
    reason = "cancelled"


class ShuttingDown(SnapshotError):
    status = 503
    code = "shutting_down"
    reason = "overloaded"
    retry_after = 1
