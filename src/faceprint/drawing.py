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


def verification_panel(image_a: Image.Image, image_b: Image.Image, result) -> Image.Image:
    """Both photos side by side, compared faces boxed, the verdict written underneath.

    Args:
        image_a, image_b: RGB PIL images.
        result: a :class:`faceprint.pipeline.Verification`.
    """
    height = 360
    tiles = []
    for image, face in zip((image_a, image_b), result.faces, strict=True):
        drawn = annotate(
            image, face.box[None], None, None if face.landmarks is None else face.landmarks[None]
        )
        scale = height / drawn.height
        tiles.append(drawn.resize((max(1, round(drawn.width * scale)), height), Image.BILINEAR))
    band = 48
    panel = Image.new("RGB", (sum(t.width for t in tiles) + 10, height + band), (255, 255, 255))
    x = 0
    for tile in tiles:
        panel.paste(tile, (x, 0))
        x += tile.width + 10
    verdict = "SAME PERSON" if result.same else "DIFFERENT PEOPLE"
    colour = (0, 140, 60) if result.same else (200, 30, 30)
    draw = ImageDraw.Draw(panel)
    font = ImageFont.load_default(size=22)
    draw.text(
        (10, height + 12),
        f"{verdict}   distance {result.distance:.3f} (threshold {result.threshold:.3f})",
        fill=colour,
        font=font,
    )
    return panel
