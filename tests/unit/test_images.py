"""The files the service makes (``service/images.py``): sizes from headers, tiles stitched, PDF pages."""

from __future__ import annotations

import io

from PIL import Image

from service.images import image_size, stitch


def tile(width: int, rows: list[tuple[int, int, int]]) -> bytes:
    image = Image.new("RGB", (width, len(rows)))
    for y, color in enumerate(rows):
        for x in range(width):
            image.putpixel((x, y), color)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_tiles_are_stitched_edge_to_edge_with_no_row_lost_or_repeated():
    """Each row on both sides of every seam lands where it belongs (a tile shifted by one pixel fails)."""
    red, green, blue, white = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
    tiles = [tile(4, [white] * 9 + [red]), tile(4, [green] + [white] * 8 + [blue]), tile(4, [red] + [white] * 3)]
    stitched = stitch(tiles, "png", None)  # lossless: the rows as they were (the seams do not depend on it)
    whole = Image.open(io.BytesIO(stitched)).convert("RGB")
    assert whole.size == (4, 24) and image_size(stitched, "png") == (4, 24)
    expected = {9: red, 10: green, 19: blue, 20: red, 8: white, 11: white, 21: white}
    for y, color in expected.items():
        assert whole.getpixel((1, y)) == color, y


def test_a_stitched_png_keeps_transparency_and_every_pixel_across_many_idat_chunks():
    """Tiles with an alpha channel (omit_background) stay RGBA; a tall result spans several IDAT chunks and Pillow
    reads it back pixel for pixel (its CRCs and zlib stream checked)."""
    import random

    rng = random.Random(7)
    images = []
    for height in (700, 700, 333):
        image = Image.new("RGBA", (300, height))
        image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256), rng.randrange(256))
                       for _ in range(300 * height)])  # fmt: skip
        images.append(image)
    tiles = []
    for image in images:
        out = io.BytesIO()
        image.save(out, format="PNG")
        tiles.append(out.getvalue())
    stitched = stitch(tiles, "png", None)
    assert stitched.count(b"IDAT") > 1  # noise compresses badly: over a MiB, more than one chunk
    whole = Image.open(io.BytesIO(stitched))
    whole.load()
    assert whole.mode == "RGBA" and whole.size == (300, 1733)
    assert whole.crop((0, 700, 300, 1400)).tobytes() == images[1].tobytes()
    assert whole.crop((0, 1400, 300, 1733)).tobytes() == images[2].tobytes()


def test_jpeg_and_webp_are_stitched_into_one_picture():
    red, blue = (255, 0, 0), (0, 0, 255)
    tiles = [tile(8, [red] * 8), tile(8, [blue] * 8)]
    for format in ("jpeg", "webp"):
        stitched = stitch(tiles, format, 90)
        whole = Image.open(io.BytesIO(stitched))
        assert (whole.format or "").lower() == format and whole.size == (8, 16)
        top, bottom = whole.convert("RGB").getpixel((4, 2)), whole.convert("RGB").getpixel((4, 13))
        assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]
