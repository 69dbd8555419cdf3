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
