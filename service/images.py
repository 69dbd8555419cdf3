"""What the service knows about the files it produces: their media types and file extensions, the
size of an image (read from its header), tiles stitched into one image, and a PDF's page count."""

from __future__ import annotations

import io
import re
import struct
import zlib

from PIL import Image

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "pdf": "application/pdf",
               "html": "text/html; charset=utf-8", "text": "text/plain; charset=utf-8",
               "markdown": "text/markdown; charset=utf-8"}  # fmt: skip
EXTENSIONS = {
    "png": "png",
    "jpeg": "jpg",
    "webp": "webp",
    "pdf": "pdf",
    "html": "html",
    "text": "txt",
    "markdown": "md",
}
# a page's content served from the service's own origin runs nothing there (no script, an opaque origin)
TEXT_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src *",
                "X-Content-Type-Options": "nosniff"}  # fmt: skip
BY_EXTENSION = {ext: MEDIA_TYPES[kind] for kind, ext in EXTENSIONS.items()}
DEFAULT_QUALITY = 80  # jpeg and webp, when the request gives none (Chrome's own default)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    if len(png) < 24 or png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def image_size(data: bytes, format: str) -> tuple[int, int]:
    """Width and height of a png, jpeg or webp image (its header only is read)."""
    if format == "png":
        return png_size(data)
    with Image.open(io.BytesIO(data)) as image:
        if (image.format or "").lower() != format:
            raise ValueError(f"not a {format} image")
        return image.size


def stitch(tiles: list[bytes], format: str, quality: int | None) -> bytes:
    """PNG tiles of one width, top to bottom, as one image in ``format``.  One tile is decoded at a time: a PNG is
    written as its rows arrive (one copy of the output, compressed); a JPEG or WebP holds one raster of the whole."""
    if format == "png":
        return _stream_png(tiles)
    with Image.open(io.BytesIO(tiles[0])) as first:
        width = first.width
    heights = []
    for tile in tiles:
        with Image.open(io.BytesIO(tile)) as image:
            heights.append(image.height)
    whole = Image.new("RGB", (width, sum(heights)))
    y = 0
    for tile, height in zip(tiles, heights, strict=True):
        with Image.open(io.BytesIO(tile)) as image:
            whole.paste(image.convert("RGB"), (0, y))
        y += height
    out = io.BytesIO()
    whole.save(out, format="JPEG" if format == "jpeg" else "WEBP", quality=quality or DEFAULT_QUALITY)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_IDAT_SIZE = 1 << 20


def _stream_png(tiles: list[bytes]) -> bytes:
    """The tiles' rows as one PNG (8-bit RGB or RGBA, unfiltered, zlib's fastest level, as Chrome's
    ``optimizeForSpeed``), compressed as each tile is decoded."""
    sizes, modes = [], set()
    for tile in tiles:
        with Image.open(io.BytesIO(tile)) as image:
            sizes.append(image.size)
            modes.add(image.mode)
    width = sizes[0][0]
    mode = "RGB" if modes == {"RGB"} else "RGBA"
    stride = width * len(mode)
    header = struct.pack(">IIBBBBB", width, sum(h for _, h in sizes), 8, 2 if mode == "RGB" else 6, 0, 0, 0)
    out = bytearray(PNG_SIGNATURE + _chunk(b"IHDR", header))
    compressor = zlib.compressobj(1)
    pending = bytearray()
    for tile in tiles:
        with Image.open(io.BytesIO(tile)) as image:
            raw = memoryview(image.convert(mode).tobytes())
        for row in range(0, len(raw), stride):
            pending += compressor.compress(b"\x00" + raw[row : row + stride])
            if len(pending) >= _IDAT_SIZE:
                out += _chunk(b"IDAT", bytes(pending))
                pending.clear()
        del raw
    pending += compressor.flush()
    out += _chunk(b"IDAT", bytes(pending)) + _chunk(b"IEND", b"")
    return bytes(out)


_PAGE = re.compile(rb"/Type\s*/Page(?!s)")


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF that Chrome printed (its page objects are not compressed)."""
    return len(_PAGE.findall(pdf))
