"""Pictures for people: detections and identities drawn on the image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_BOX_COLOUR = (0, 220, 90)
_POINT_COLOUR = (255, 60, 60)


def annotate(
    image: Image.Image,
    boxes: np.ndarray | None,
    labels: Sequence[str] | None = None,
    points: np.ndarray | None = None,
) -> Image.Image:
    """Return a copy of ``image`` with boxes, labels and landmarks drawn on it.

    Args:
        image: RGB PIL image.
        boxes: ``(N, 4)`` as ``x1, y1, x2, y2`` in pixels, or None.
        labels: N strings written above the boxes (e.g. probabilities or names).
        points: ``(N, 5, 2)`` landmarks, or None.
    """
    out = image.convert("RGB")
    if boxes is None or len(boxes) == 0:
        return out
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 400))
    font = ImageFont.load_default(size=max(12, round(max(out.size) / 60)))
    for i, box in enumerate(np.asarray(boxes, dtype=float)):
        draw.rectangle(box.tolist(), outline=_BOX_COLOUR, width=width)
        if labels is not None:
            x, y = box[0], max(0.0, box[1] - font.size - 2 * width)
            text_box = draw.textbbox((x, y), labels[i], font=font)
            draw.rectangle(text_box, fill=_BOX_COLOUR)
            draw.text((x, y), labels[i], fill=(0, 0, 0), font=font)
        if points is not None:
            r = width * 1.5
            for px, py in np.asarray(points[i], dtype=float):
                draw.ellipse((px - r, py - r, px + r, py + r), fill=_POINT_COLOUR)
    return out
