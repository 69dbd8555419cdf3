"""What a capture produces (``service/browsers/shots.py``), on a small fake of the tab's commands: the
logic alone; pictures and PDFs of real pages are in tests/integration/test_options.py."""

from __future__ import annotations

import base64
import time
from typing import Any, cast

import pytest

from service.browsers.shots import PDF_CHUNK, OutputSettings, pdf
from service.browsers.tab import Tab
from service.errors import OutputTooLarge
from service.options import CaptureOptions, Endpoint
from service.params import CaptureRequest
from service.urls import parse_target_url


class StreamingTab:
    """Answers Page.printToPDF with a stream of ``chunks`` and hands them out one IO.read at a time."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[str] = []

    def command(self, method: str, params: dict[str, Any], deadline: float, **_: object) -> dict[str, Any]:
        self.commands.append((method, params))
        if method == "Page.printToPDF":
            return {"stream": "s1"}
        chunk = self.chunks.pop(0)
        return {"data": base64.b64encode(chunk).decode(), "base64Encoded": True, "eof": not self.chunks}

    def send(self, method: str, params: dict[str, Any], session: str | None = None) -> None:
        self.sent.append(method)


REQUEST = CaptureRequest(parse_target_url("https://a.test/", max_length=100), 800, 600, False, CaptureOptions(),
                         Endpoint.PDF)  # fmt: skip
PAGE = b"<< /Type /Page >>\n"


def test_a_pdf_is_printed_with_a_page_range_and_read_as_a_stream():
    tab = StreamingTab([b"%PDF-1.4\n" + PAGE, PAGE, b"%%EOF"])
    data = pdf(cast(Tab, tab), OutputSettings(max_pdf_pages=5), REQUEST, 800, time.monotonic() + 5)
    assert data == b"%PDF-1.4\n" + PAGE + PAGE + b"%%EOF"
    printed = tab.commands[0][1]
    assert printed["transferMode"] == "ReturnAsStream" and printed["pageRanges"] == "1-6"
    assert [m for m, _ in tab.commands[1:]] == ["IO.read"] * 3
    assert all(p["size"] == PDF_CHUNK for _, p in tab.commands[1:]) and tab.sent == ["IO.close"]


def test_reading_stops_as_soon_as_the_pdf_is_over_the_byte_limit():
    tab = StreamingTab([b"x" * 600, b"x" * 600, b"x" * 600, b"x" * 600])
    with pytest.raises(OutputTooLarge, match="1000 bytes"):
        pdf(cast(Tab, tab), OutputSettings(max_bytes=1000), REQUEST, 800, time.monotonic() + 5)
    assert len(tab.commands) == 3 and len(tab.chunks) == 2  # two chunks never read
    assert tab.sent == ["IO.close"]


def test_one_page_more_than_allowed_is_refused():
    tab = StreamingTab([b"%PDF-1.4\n" + PAGE * 3])
    with pytest.raises(OutputTooLarge, match="2 pages"):
        pdf(cast(Tab, tab), OutputSettings(max_pdf_pages=2), REQUEST, 800, time.monotonic() + 5)
