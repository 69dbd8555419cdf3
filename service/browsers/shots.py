"""What a capture produces from the loaded page: the viewport, a region (an element or a clip), the
whole page (in tiles beyond what Chrome captures in one piece), or a PDF.

The viewport stays width × height throughout: the full page is captured beyond it
(``captureBeyondViewport``), never by resizing the viewport to the page's height, which would stretch
``100vh`` layouts.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service import tracing
from service.browsers.cdp import CdpError
from service.browsers.page import Page, PageInfo, content
from service.browsers.tab import Tab
from service.errors import BackendUnavailable, InvalidRequest, OutputTooLarge
from service.images import DEFAULT_QUALITY, image_size, pdf_pages, stitch
from service.option_pdf import print_params
from service.options import Endpoint
from service.params import CaptureRequest

if TYPE_CHECKING:
    from service.config import Settings

# the tallest image each format holds (device pixels): Chrome answers nothing beyond, and no encoder could
FORMAT_HEIGHT = {"png": 1 << 31, "jpeg": 65535, "webp": 16383}


@dataclass(frozen=True)
class OutputSettings:
    """How captures make their output, and how large it may be (from the settings)."""

    max_full_page_height: int = 32768
    max_pixels: int = 33_554_432
    max_bytes: int = 50_000_000
    max_pdf_pages: int = 100
    fast_png: bool = True  # PNGs encoded for speed rather than size (SNAPSHOT_PNG_ENCODING)
    max_shot_pixels: int = 67_108_864  # more in one screenshot: tiles (SNAPSHOT_MAX_SHOT_PIXELS)

    @classmethod
    def of(cls, settings: Settings) -> OutputSettings:
        return cls(
            settings.max_full_page_height, settings.max_pixels, settings.max_image_bytes, settings.max_pdf_pages,
            fast_png=settings.png_encoding == "speed", max_shot_pixels=settings.max_shot_pixels,
        )  # fmt: skip

    def shot_rows(self, width: float, scale: float) -> int:
        """The most CSS rows of ``width`` one screenshot at ``scale`` takes (tiles beyond: ``region``)."""
        return max(1, int(self.max_shot_pixels // (math.ceil(width * scale) * scale)))

    @property
    def max_message(self) -> int:
        """The largest DevTools message read: an image of ``max_bytes`` in base64 and JSON, and never less
        than 64 MiB (other messages: descriptions, paused requests)."""
        return max(64 << 20, self.max_bytes * 4 // 3 + (1 << 20))


@dataclass(frozen=True)
class Shot:
    """A capture's result."""

    data: bytes
    format: str  # png, jpeg, webp or pdf
    info: PageInfo
    width: int = 0  # image pixels (0 for a PDF)
    height: int = 0
    page_height: int = 0  # CSS pixels of the whole page
    truncated: bool = False  # a full page cut at its maximum height


def image_params(output: OutputSettings, image_format: str, quality: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"format": image_format, "fromSurface": True}
    if image_format == "png":
        # zlib's fastest setting, unfiltered: the same pixels in more bytes, for less browser CPU and
        # latency per capture (SNAPSHOT_PNG_ENCODING; the figures in docs/operations.md)
        params["optimizeForSpeed"] = output.fast_png
    else:
        params["quality"] = quality if quality is not None else DEFAULT_QUALITY
    return params


def take(
    tab: Tab, output: OutputSettings, page: Page | None, request: CaptureRequest, info: PageInfo, deadline: float
) -> Shot:
    o = request.options
    if request.endpoint is Endpoint.PDF:
        printed = pdf(tab, output, request, info.height, deadline)
        return _checked(output, Shot(printed, "pdf", info, page_height=info.height))
    if request.endpoint is Endpoint.CONTENT:
        data = content(page or Page(tab, deadline), o.content_format, output.max_bytes)
        return _checked(output, Shot(data, o.content_format, info, page_height=info.height))
    dsf = request.scale
    if o.full_page:
        return _checked(output, full_page(tab, output, request, info, deadline))
    image = image_params(output, o.format, o.quality)
    if o.selector is not None or o.clip_x is not None:
        if o.selector is not None:
            rect = (page or Page(tab, deadline)).rect(o.selector, "selector")
            pad = o.selector_padding
            x, y = max(0.0, rect["x"] - pad), max(0.0, rect["y"] - pad)
            clip = {"x": x, "y": y, "width": rect["width"] + 2 * pad, "height": rect["height"] + 2 * pad}
            pixels = math.ceil(clip["width"] * dsf) * math.ceil(clip["height"] * dsf)
            if pixels > output.max_pixels:  # refused before the browser makes it
                raise OutputTooLarge(
                    f"the selector's box is {pixels} pixels, more than the {output.max_pixels} allowed"
                )
        else:
            clip = {"x": float(o.clip_x or 0), "y": float(o.clip_y or 0)}
            clip |= {"width": float(o.clip_width or 1), "height": float(o.clip_height or 1)}
        if clip["height"] * dsf > FORMAT_HEIGHT[o.format]:
            raise OutputTooLarge(f"the region is taller than a {o.format} image can be ({FORMAT_HEIGHT[o.format]} px)")
        data = region(tab, output, clip, o.format, o.quality, dsf, deadline)
        width, height = image_size(data, o.format)
        return _checked(output, Shot(data, o.format, info, width, height, info.height))
    data = tab.screenshot(image, deadline)
    size = image_size(data, o.format)
    _check_size(size, request.width, request.height, dsf)
    return _checked(output, Shot(data, o.format, info, *size, page_height=info.height))


def _check_size(size: tuple[int, int], width: int, height: int, scale: float) -> None:
    """The picture is width x height CSS pixels at ``scale`` (a fractional scale rounds either way by a
    pixel); otherwise the browser misbehaves and the session is replaced."""
    expected = (width * scale, height * scale)
    if any(abs(got - want) >= 1 for got, want in zip(size, expected, strict=True)):
        raise BackendUnavailable(f"the browser returned {size} instead of {expected}")


def _checked(output: OutputSettings, shot: Shot) -> Shot:
    if len(shot.data) > output.max_bytes:
        raise OutputTooLarge(f"the {shot.format} is {len(shot.data)} bytes, more than the {output.max_bytes} allowed")
    return shot


def full_page(tab: Tab, output: OutputSettings, request: CaptureRequest, info: PageInfo, deadline: float) -> Shot:
    o = request.options
    dsf = request.scale
    width = request.width
    metrics = tab.command("Page.getLayoutMetrics", {}, deadline)
    page_height = max(request.height, math.ceil(metrics["cssContentSize"]["height"]))
    limits = output
    cap = min(o.full_page_max_height or limits.max_full_page_height, limits.max_full_page_height)
    cap = min(cap, int(limits.max_pixels // (width * dsf * dsf)), int(FORMAT_HEIGHT[o.format] // dsf))
    height = min(page_height, cap)
    clip = {"x": 0.0, "y": 0.0, "width": float(width), "height": float(height)}
    data = region(tab, output, clip, o.format, o.quality, dsf, deadline)
    size = image_size(data, o.format)
    _check_size(size, width, height, dsf)
    return Shot(data, o.format, info, *size, page_height=page_height, truncated=height < page_height)


def region(
    tab: Tab,
    output: OutputSettings,
    clip: dict[str, float],
    image_format: str,
    quality: int | None,
    scale: float,
    deadline: float,
) -> bytes:
    """A region of the page (CSS px, beyond the viewport: the viewport keeps its size) as one image.  In one
    screenshot when the browser takes it in one (``SNAPSHOT_MAX_SHOT_PIXELS``): the bytes it encoded are the
    answer, never decoded here.  Larger: PNG tiles, stitched one at a time (``images.stitch``)."""
    rows = output.shot_rows(clip["width"], scale)
    if clip["height"] <= rows:
        params = {**image_params(output, image_format, quality), "clip": {**clip, "scale": 1}}
        return tab.screenshot({**params, "captureBeyondViewport": True}, deadline)
    tiles = []
    top = 0.0
    while top < clip["height"]:
        part = {**clip, "y": clip["y"] + top, "height": min(float(rows), clip["height"] - top), "scale": 1}
        tiles.append(tab.screenshot({**image_params(output, "png"), "clip": part, "captureBeyondViewport": True},
                                    deadline))  # fmt: skip
        top += rows
    with tracing.span("encode", {"snapshot.tiles": len(tiles)}):  # in this process: the tiles as one image
        return stitch(tiles, image_format, quality)


PDF_CHUNK = 1 << 20  # bytes of PDF per IO.read: the CDP messages stay small whatever the PDF's size


def pdf(tab: Tab, output: OutputSettings, request: CaptureRequest, page_height: int, deadline: float) -> bytes:
    """The page printed; one page more than allowed is printed at most (to tell that there are more), and
    the PDF is read as a stream, given up as soon as it is over the byte limit."""
    o = request.options
    limits = output
    # (Chrome caps the default range at the last page; a range the client gives must be within the document)
    params = print_params(o, page_height, request.width, limits.max_pdf_pages)
    try:
        printed = tab.command("Page.printToPDF", params, deadline)
    except CdpError as exc:
        if "range" not in exc.message.lower() or o.pdf_page_ranges is None:
            raise
        message = "is past the last page of the document"
        raise InvalidRequest(f"pdf_page_ranges {message}", code="invalid_options",
                             details=[{"parameter": "pdf_page_ranges", "message": message}]) from None  # fmt: skip
    stream = printed["stream"]
    data = bytearray()
    try:
        while True:
            chunk = tab.command("IO.read", {"handle": stream, "size": PDF_CHUNK}, deadline)
            data += base64.b64decode(chunk["data"]) if chunk.get("base64Encoded") else chunk["data"].encode()
            if len(data) > limits.max_bytes:
                raise OutputTooLarge(f"the PDF is more than the {limits.max_bytes} bytes allowed")
            if chunk.get("eof"):
                break
    finally:
        tab.send("IO.close", {"handle": stream})  # nobody waits for its answer
    pages = pdf_pages(bytes(data))
    if pages > limits.max_pdf_pages:
        raise OutputTooLarge(f"the PDF has more than the {limits.max_pdf_pages} pages allowed")
    return bytes(data)
