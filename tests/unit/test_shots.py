"""What a capture produces (``service/browsers/shots.py``), on a small fake of the tab's commands: the
logic alone; pictures and PDFs of real pages are in tests/integration/test_options.py."""

from __future__ import annotations

import base64
import io
import time
from typing import Any, cast

import pytest
from PIL import Image

from service.browsers.page import PageInfo
from service.browsers.shots import PDF_CHUNK, OutputSettings, full_page, pdf, region
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


class ShootingTab:
    """A page ``page_height`` CSS px tall: Page.captureScreenshot answers a PNG of the clip's size (its rows
    striped by their page y), and remembers each clip."""

    def __init__(self, page_height: int) -> None:
        self.page_height = page_height
        self.clips: list[dict[str, Any]] = []
        self.answers: list[bytes] = []

    def command(self, method: str, params: dict[str, Any], deadline: float, **_: object) -> dict[str, Any]:
        assert method == "Page.getLayoutMetrics"
        return {"cssContentSize": {"height": self.page_height}}

    def screenshot(self, params: dict[str, Any], deadline: float) -> bytes:
        clip = params["clip"]
        assert params["captureBeyondViewport"] is True and clip["scale"] == 1
        self.clips.append(clip)
        width, height = int(clip["width"]), int(clip["height"])
        image = Image.new("RGB", (width, height))
        image.putdata([((int(clip["y"]) + y) % 256, 0, 0) for y in range(height) for _ in range(width)])
        out = io.BytesIO()
        image.save(out, format=params["format"].upper())
        self.answers.append(out.getvalue())
        return self.answers[-1]


def shoot(page_height: int, output: OutputSettings, **options: Any) -> tuple[ShootingTab, Any]:
    request = CaptureRequest(parse_target_url("https://a.test/", max_length=100), 20, 10, False,
                             CaptureOptions(full_page=True, **options), Endpoint.SNAP)  # fmt: skip
    tab = ShootingTab(page_height)
    return tab, full_page(cast(Tab, tab), output, request, PageInfo(), time.monotonic() + 5)


def test_a_full_page_in_one_shot_is_the_browsers_own_bytes():
    tab, shot = shoot(3000, OutputSettings())
    assert len(tab.clips) == 1 and tab.clips[0]["height"] == 3000
    assert shot.data is tab.answers[0]  # never decoded, never encoded again here
    assert (shot.width, shot.height, shot.truncated) == (20, 3000, False)


def test_beyond_the_largest_shot_the_page_is_taken_in_tiles_stitched_row_for_row():
    output = OutputSettings(max_shot_pixels=20 * 1000)  # 1000 rows of 20 px per shot
    tab, shot = shoot(2500, output)
    assert [(c["y"], c["height"]) for c in tab.clips] == [(0, 1000), (1000, 1000), (2000, 500)]
    image = Image.open(io.BytesIO(shot.data)).convert("RGB")
    assert image.size == (20, 2500)
    assert [image.getpixel((5, y))[0] for y in (999, 1000, 1999, 2000, 2499)] == [
        y % 256 for y in (999, 1000, 1999, 2000, 2499)
    ]


def test_a_full_page_is_cut_where_its_format_ends():
    tab, shot = shoot(20000, OutputSettings(), format="webp")
    assert shot.height == 16383 and shot.truncated and shot.page_height == 20000
    assert len(tab.clips) == 1


def test_a_tall_region_is_taken_in_tiles_from_where_it_starts():
    tab = ShootingTab(10_000)
    clip = {"x": 0.0, "y": 500.0, "width": 20.0, "height": 2500.0}
    data = region(cast(Tab, tab), OutputSettings(max_shot_pixels=20 * 1000), clip, "png", None, 1, time.monotonic() + 5)
    assert [(c["y"], c["height"]) for c in tab.clips] == [(500, 1000), (1500, 1000), (2500, 500)]
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert (
        image.size == (20, 2500)
        and image.getpixel((3, 0))[0] == 500 % 256
        and image.getpixel((3, 2499))[0] == 2999 % 256
    )
