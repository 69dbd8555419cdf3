"""What the service knows about the files it produces: their media types and file extensions, the
size of an image (read from its header), tiles stitched into one image, and a PDF's page count."""

from __future__ import annotations

import io
import re
import struct

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


def png_size(png: bytes) -> tuple[int, int]:
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
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
    """PNG tiles of one width, top to bottom, as one image in ``format``."""
    images = [Image.open(io.BytesIO(tile)) for tile in tiles]
    width = images[0].width
    whole = Image.new("RGBA", (width, sum(i.height for i in images)))
    y = 0
    for image in images:
        whole.paste(image.convert("RGBA"), (0, y))
        y += image.height
    out = io.BytesIO()
    if format == "jpeg":
        whole.convert("RGB").save(out, format="JPEG", quality=quality or DEFAULT_QUALITY)
    elif format == "webp":
        whole.save(out, format="WEBP", quality=quality or DEFAULT_QUALITY)
    else:
        whole.save(out, format="PNG", compress_level=1)
    return out.getvalue()


_PAGE = re.compile(rb"/Type\s*/Page(?!s)")


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF that Chrome printed (its page objects are not compressed)."""
    return len(_PAGE.findall(pdf))
