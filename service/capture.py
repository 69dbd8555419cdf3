"""What one capture is, in the words every layer shares: its phases and their timings, the backend it
runs on and the outcome it ends with (the typed request is ``service.params.CaptureRequest``).

The enums are the label values of the metrics (``service/metrics.py``) and the words of the request
log, so a dashboard, a log line and an error name an outcome the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from service import tracing


class Backend(StrEnum):
    """Where a capture's browser runs."""

    GRID = "grid"
    LOCAL = "local"


class Phase(StrEnum):
    """The phases of a capture, in order; each is timed (``Timings``)."""

    CHECK = "check"  # the URL against the network policy
    QUEUE = "queue"  # waiting for a capture worker
    SESSION = "session"  # acquiring (or opening) a browser session
    NAVIGATE = "navigate"  # loading the page
    WAIT = "wait"  # the waits and page changes the options ask for
    SCREENSHOT = "screenshot"  # the image or the PDF
    UPLOAD = "upload"  # POST: storing the image


class Outcome(StrEnum):
    """How a capture request ended."""

    SUCCESS = "success"
    INVALID = "invalid"
    BLOCKED = "blocked"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    TARGET_HTTP_ERROR = "target_http_error"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    STORAGE_ERROR = "storage_error"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


@dataclass
class Timings:
    """Seconds spent per phase of one capture.  The use case creates it; the backend and the browser
    session add the phases they run.  Each phase is a span of the current trace too (``service.tracing``)."""

    seconds: dict[Phase, float] = field(default_factory=dict)

    def add(self, phase: Phase, seconds: float) -> None:
        """A phase that ended now, ``seconds`` long."""
        self._count(phase, seconds)
        tracing.record(phase.value, seconds)

    @contextmanager
    def measure(self, phase: Phase) -> Iterator[None]:
        started = time.monotonic()
        try:
            with tracing.span(phase.value):
                yield
        finally:
            self._count(phase, time.monotonic() - started)

    def _count(self, phase: Phase, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    def milliseconds(self) -> dict[str, float]:
        """Per phase, in phase order, rounded to 0.1 ms (for logs)."""
        return {phase.value: round(1000 * self.seconds[phase], 1) for phase in Phase if phase in self.seconds}

    def server_timing(self) -> str:
        """The phases as a Server-Timing header (milliseconds), shown by browsers' developer tools."""
        return ", ".join(f"{name};dur={ms:.1f}" for name, ms in self.milliseconds().items())
