"""Two captures of one page compared pixel by pixel (visual monitors, ``service/monitors``).

A pixel of the new capture counts as changed when one of its channels lies further than ``tolerance`` outside
what the old capture has around the same place (its 3x3 neighbourhood): anti-aliasing, a glyph's edge rendered a
shade or a pixel off, and JPEG noise do not count; a moved, recoloured or new element does.  The diff image is the
new capture faded, with the changed pixels in red, at the capture's size.  All of it in Pillow's C code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageFilter

TOLERANCE = 24  # of 255, per channel, beyond the neighbourhood's range
_RED = (230, 0, 60)


@dataclass(frozen=True)
class Diff:
    ratio: float  # the share of the new capture's pixels that changed, 0 to 1
    image: bytes  # PNG


def compare(before: bytes, after: bytes, tolerance: int = TOLERANCE) -> Diff:
    """How much of ``after`` differs from ``before`` (two images; a different size changes every pixel)."""
    with Image.open(io.BytesIO(before)) as old_image, Image.open(io.BytesIO(after)) as new_image:
        new = new_image.convert("RGB")
        if old_image.size != new.size:
            changed = Image.new("L", new.size, 255)
        else:
            old = old_image.convert("RGB")
            low, high = old.filter(ImageFilter.MinFilter(3)), old.filter(ImageFilter.MaxFilter(3))
            # how far each channel is above the neighbourhood's highest value or below its lowest (0 inside)
            beyond = ImageChops.lighter(ImageChops.subtract(new, high), ImageChops.subtract(low, new))
            red, green, blue = beyond.split()
            worst = ImageChops.lighter(ImageChops.lighter(red, green), blue)
            changed = worst.point(lambda v: 255 if v > tolerance else 0)
    count = changed.histogram()[255]
    faded = Image.blend(Image.new("RGB", new.size, (255, 255, 255)), new.convert("L").convert("RGB"), 0.3)
    marked = Image.composite(Image.new("RGB", new.size, _RED), faded, changed)
    out = io.BytesIO()
    marked.save(out, format="PNG", compress_level=1)
    return Diff(count / (new.width * new.height), out.getvalue())
