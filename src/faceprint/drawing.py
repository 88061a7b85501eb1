"""Pictures for people: detections and identities drawn on the image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BOX_COLOUR = (0, 220, 90)
#: Faces a gallery could not name.
UNKNOWN_COLOUR = (255, 150, 30)
_POINT_COLOUR = (255, 60, 60)


def annotate(
    image: Image.Image,
    boxes: np.ndarray | None,
    labels: Sequence[str] | None = None,
    points: np.ndarray | None = None,
    colours: Sequence[tuple[int, int, int]] | None = None,
) -> Image.Image:
    """Return a copy of ``image`` with boxes, labels and landmarks drawn on it.

    Line width and label size scale with the image, and every label stays inside it.

    Args:
        image: RGB PIL image.
        boxes: ``(N, 4)`` as ``x1, y1, x2, y2`` in pixels, or None.
        labels: N strings written above the boxes (e.g. probabilities or names).
        points: ``(N, 5, 2)`` landmarks, or None.
        colours: N RGB colours of the boxes and label backgrounds (default: all green).
    """
    out = image.convert("RGB")
    if boxes is None or len(boxes) == 0:
        return out
    draw = ImageDraw.Draw(out)
    longest = max(out.size)
    width = max(2, round(longest / 400))
    font = ImageFont.load_default(size=max(14, round(longest / 40)))
    for i, box in enumerate(np.asarray(boxes, dtype=float)):
        colour = colours[i] if colours is not None else BOX_COLOUR
        draw.rectangle(box.tolist(), outline=colour, width=width)
        if labels is not None:
            left, top, right, bottom = draw.textbbox((0, 0), labels[i], font=font)
            text_w, text_h = right - left, bottom - top
            x = min(max(0.0, box[0]), max(0.0, out.width - text_w - 2 * width))
            y = box[1] - text_h - 3 * width
            if y < 0:  # no room above the box: write inside its top edge
                y = max(0.0, box[1]) + width
            pad = width
            draw.rectangle(
                (x - pad, y - pad, x + text_w + pad, y + text_h + pad + top), fill=colour
            )
            draw.text((x - left, y), labels[i], fill=(0, 0, 0), font=font)
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


def contact_sheet(
    rows: Sequence[tuple[Image.Image, Image.Image, str]],
    headers: tuple[str, str] = ("reference", "generated"),
    tile: int = 128,
) -> Image.Image:
    """Pairs of faces side by side, one pair a row, each with its caption to the right.

    Args:
        rows: ``(first face, second face, caption)`` per pair.
        headers: titles of the two columns of faces.
        tile: side of each face, in pixels.
    """
    font = ImageFont.load_default(size=max(12, tile // 8))
    gap = 6
    header = tile // 5
    sheet = Image.new(
        "RGB", (5 * tile + 3 * gap, header + max(1, len(rows)) * (tile + gap) + gap), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for column, title in enumerate(headers):
        draw.text((gap + column * (tile + gap), 2), title, fill=(90, 90, 90), font=font)
    for i, (first, second, caption) in enumerate(rows):
        y = header + gap + i * (tile + gap)
        sheet.paste(first.resize((tile, tile), Image.BILINEAR), (gap, y))
        sheet.paste(second.resize((tile, tile), Image.BILINEAR), (2 * gap + tile, y))
        draw.multiline_text((3 * gap + 2 * tile, y + 4), caption, fill=(0, 0, 0), font=font)
    return sheet
